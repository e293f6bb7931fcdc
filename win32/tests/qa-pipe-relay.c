/* qa-pipe-relay PIPE: lets a Linux test client talk to the agent's named pipe under wine.
 *
 * Listens on 127.0.0.1 (an ephemeral port, printed on stdout) and, for every TCP client,
 * connects to PIPE (waiting while the agent's one pipe instance is busy, as a second host would)
 * and copies bytes both ways until either side closes; then it closes the other side, so a
 * client that leaves is a host that disconnects. Wine maps Winsock to Linux sockets, so the
 * Python tests keep their socket-level checks (back-pressure, one host at a time, disconnects).
 * Plain Win32 and Winsock: it must not share any code with what it tests. */
/* winsock2.h must come before windows.h */
/* clang-format off */
#include <winsock2.h>
#include <windows.h>
/* clang-format on */
#include <stdio.h>
#include <stdlib.h>

#define RELAY_BUFFER 65536
#define RELAY_CONNECT_TIMEOUT_MS 30000

typedef struct {
	SOCKET sock;
	HANDLE pipe;
	/* manual reset, set by the direction that ends first and never reset: the other one may be
	 * about to issue its next pipe read or write, and a CancelIoEx from this thread would miss
	 * an operation issued after it (the relay then held the pipe open, and the agent never saw
	 * the client leave); an event that stays set cannot be missed */
	HANDLE stop;
} Relay;

static const wchar_t *pipe_name;

/* one pipe read or write; FALSE when it failed or the other direction ended */
static BOOL
pipe_io(Relay *relay, BOOL is_write, char *buf, DWORD len, DWORD *out_n)
{
	OVERLAPPED ov = {0};
	HANDLE events[2];
	BOOL ok;

	if (WaitForSingleObject(relay->stop, 0) == WAIT_OBJECT_0)
		return FALSE;
	ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
	events[0] = ov.hEvent;
	events[1] = relay->stop;
	ok = is_write ? WriteFile(relay->pipe, buf, len, NULL, &ov)
		      : ReadFile(relay->pipe, buf, len, NULL, &ov);
	if (ok || GetLastError() == ERROR_IO_PENDING) {
		if (WaitForMultipleObjects(2, events, FALSE, INFINITE) != WAIT_OBJECT_0)
			CancelIoEx(relay->pipe, &ov);
		/* waits until the system no longer uses @buf, also after a cancel */
		ok = GetOverlappedResult(relay->pipe, &ov, out_n, TRUE);
	}
	CloseHandle(ov.hEvent);
	return ok;
}

/* client -> agent; the client closing ends the relay */
static DWORD WINAPI
relay_up(LPVOID data)
{
	Relay *relay = data;
	char *buf = malloc(RELAY_BUFFER);

	for (;;) {
		int n = recv(relay->sock, buf, RELAY_BUFFER, 0);
		DWORD written;

		if (n <= 0)
			break;
		for (int off = 0; off < n; off += (int)written) {
			if (!pipe_io(relay, TRUE, buf + off, (DWORD)(n - off), &written))
				goto out;
		}
	}
out:
	free(buf);
	SetEvent(relay->stop);
	shutdown(relay->sock, SD_BOTH);
	return 0;
}

/* agent -> client */
static DWORD WINAPI
relay_down(LPVOID data)
{
	Relay *relay = data;
	char *buf = malloc(RELAY_BUFFER);
	DWORD n;

	while (pipe_io(relay, FALSE, buf, RELAY_BUFFER, &n)) {
		for (DWORD off = 0; off < n;) {
			int sent = send(relay->sock, buf + off, (int)(n - off), 0);
			if (sent <= 0)
				goto out;
			off += (DWORD)sent;
		}
	}
out:
	free(buf);
	SetEvent(relay->stop);
	shutdown(relay->sock, SD_BOTH);
	return 0;
}

static HANDLE
relay_open_pipe(void)
{
	for (DWORD waited = 0; waited < RELAY_CONNECT_TIMEOUT_MS; waited += 20) {
		HANDLE pipe = CreateFileW(pipe_name,
					  GENERIC_READ | GENERIC_WRITE,
					  0,
					  NULL,
					  OPEN_EXISTING,
					  FILE_FLAG_OVERLAPPED,
					  NULL);
		if (pipe != INVALID_HANDLE_VALUE)
			return pipe;
		if (GetLastError() == ERROR_PIPE_BUSY)
			WaitNamedPipeW(pipe_name, 1000);
		else
			Sleep(20);
	}
	return INVALID_HANDLE_VALUE;
}

static DWORD WINAPI
relay_connection(LPVOID data)
{
	Relay *relay = data;
	HANDLE threads[2];

	threads[0] = CreateThread(NULL, 0, relay_up, relay, 0, NULL);
	threads[1] = CreateThread(NULL, 0, relay_down, relay, 0, NULL);
	WaitForMultipleObjects(2, threads, TRUE, INFINITE);
	CloseHandle(threads[0]);
	CloseHandle(threads[1]);
	CloseHandle(relay->pipe);
	CloseHandle(relay->stop);
	closesocket(relay->sock);
	free(relay);
	return 0;
}

int
wmain(int argc, wchar_t **argv);

int
wmain(int argc, wchar_t **argv)
{
	WSADATA wsa;
	SOCKET listener;
	struct sockaddr_in addr = {0};
	int len = sizeof(addr);

	if (argc != 2) {
		fprintf(stderr, "usage: qa-pipe-relay \\\\.\\pipe\\NAME\n");
		return 2;
	}
	pipe_name = argv[1];
	WSAStartup(MAKEWORD(2, 2), &wsa);
	listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(listener, 16) != 0 ||
	    getsockname(listener, (struct sockaddr *)&addr, &len) != 0) {
		fprintf(stderr, "qa-pipe-relay: cannot listen (%d)\n", WSAGetLastError());
		return 1;
	}
	printf("%u\n", ntohs(addr.sin_port));
	fflush(stdout);
	for (;;) {
		SOCKET sock = accept(listener, NULL, NULL);
		Relay *relay;

		if (sock == INVALID_SOCKET)
			continue;
		relay = calloc(1, sizeof(*relay));
		relay->sock = sock;
		relay->stop = CreateEventW(NULL, TRUE, FALSE, NULL);
		/* open the pipe here, before accepting the next client: the clients then reach the
		 * agent in the order they connected, as through a unix socket's backlog, instead of
		 * racing for the one pipe instance */
		relay->pipe = relay_open_pipe();
		if (relay->pipe == INVALID_HANDLE_VALUE) {
			fprintf(stderr,
				"qa-pipe-relay: cannot connect to the pipe (%lu)\n",
				GetLastError());
			CloseHandle(relay->stop);
			closesocket(relay->sock);
			free(relay);
			continue;
		}
		CloseHandle(CreateThread(NULL, 0, relay_connection, relay, 0, NULL));
	}
}
