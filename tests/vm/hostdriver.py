#!/usr/bin/env python3
"""A host on the agent's chardev socket, speaking the QGA protocol (python3 stdlib only).

Two dialects, because the agent must serve both:

  mode="libvirt"    what libvirt does: before every command a plain `guest-sync` whose id is a
                    millisecond timestamp, waited for 5 s; replies are split on '\\n' and lines
                    whose `return` is not that id are skipped (stale replies of an earlier host).
  mode="delimited"  what other clients do: a 0xFF byte (the agent drops any partial request), then
                    `guest-sync-delimited`; the agent writes 0xFF right before that reply, so
                    everything up to the 0xFF is stale and skipped.

    with AgentConn(path) as a:
        a.call("guest-ping")                   # return value, or AgentError with the desc
        a.execute("guest-fsfreeze-thaw")        # the whole reply object (return or error)

A third way, pve_execute()/pve_call(), is Proxmox's (qemu-server's QMPClient): on a connection
in either mode, `guest-sync-delimited` and the command in one write, the reply found with
Proxmox's own pattern.

Every read has a deadline: a silent agent is a TimeoutError, never a hang.
"""

import json
import os
import re
import socket
import time

SYNC_TIMEOUT = 5.0  # libvirt's
# qemu-server's QMPClient matches a guest-agent reply with s/^.*\xff([^\n]+}\r?\n[^\n]+})\r?\n(.*)$/
# (Perl, no /s: '.' stops at a newline): 0xFF, the sync reply on one line, the command's reply on
# one line ending in '}'. Python's re without DOTALL reads it the same way.
PVE_REPLY = re.compile(rb"^.*\xff([^\n]+}\r?\n[^\n]+})\r?\n(.*)$")
PVE_SYNC_ONLY = re.compile(rb"^.*\xff([^\n]+})\r?\n")


class AgentError(Exception):
    """The agent answered with {"error": ...}; .cls and .desc hold its members."""

    def __init__(self, reply):
        err = reply.get("error", {})
        self.cls = err.get("class", "?")
        self.desc = err.get("desc", "")
        super().__init__(f"{self.cls}: {self.desc}")


class AgentConn:
    def __init__(self, path, mode="libvirt", timeout=60.0, connect=True):
        if mode not in ("libvirt", "delimited"):
            raise ValueError(mode)
        self.path = path
        self.mode = mode
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self._last_id = 0
        self._pve_seq = 0
        self.transcript = []  # (direction, bytes) for failure reports
        self.skipped = []  # non-JSON lines skipped while syncing
        if connect:
            self.connect()

    # ---- connection ------------------------------------------------------------------------
    def connect(self):
        self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.path)
        self.sock = s
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # ---- bytes -----------------------------------------------------------------------------
    def send_raw(self, data):
        self.transcript.append((">", data))
        self.sock.settimeout(30)
        self.sock.sendall(data)

    def send(self, obj):
        # one request per line, as libvirt writes them
        self.send_raw(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        if not data:
            raise ConnectionError("QEMU closed the agent socket")
        self.transcript.append(("<", data))
        self.buf += data

    def readline(self, deadline):
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_lines_for(self, seconds):
        """Every complete line that arrives within `seconds` (for 'nothing stale arrives')."""
        deadline = time.monotonic() + seconds
        lines = []
        while True:
            try:
                lines.append(self.readline(deadline))
            except TimeoutError:
                return lines

    # ---- protocol --------------------------------------------------------------------------
    def _new_id(self):
        # libvirt uses the current time in ms; keep ids strictly increasing within one process
        sid = max(int(time.time() * 1000), self._last_id + 1)
        self._last_id = sid
        return sid

    def sync(self, timeout=SYNC_TIMEOUT):
        """Resynchronise; returns the id. TimeoutError when the agent does not answer in time."""
        sid = self._new_id()
        deadline = time.monotonic() + timeout
        if self.mode == "libvirt":
            self.send({"execute": "guest-sync", "arguments": {"id": sid}})
            while True:
                line = self.readline(deadline)
                try:
                    msg = json.loads(line)
                except ValueError:
                    # libvirt tolerates one non-JSON line on the first sync; a test host skips
                    # every one (a 0xFF-delimited reply meant for an earlier host, half a line)
                    self.skipped.append(line)
                    continue
                if isinstance(msg, dict) and msg.get("return") == sid:
                    return sid
        else:
            self.send_raw(b"\xff")
            self.send({"execute": "guest-sync-delimited", "arguments": {"id": sid}})
            while True:
                while b"\xff" not in self.buf:
                    self.buf = b""  # everything before the delimiter is stale
                    self._fill(deadline)
                self.buf = self.buf[self.buf.rindex(b"\xff") + 1:]
                line = self.readline(deadline)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("return") == sid:
                    return sid

    def wait_ready(self, timeout):
        """Sync until the agent answers (it may not have opened its port yet); returns seconds
        waited. Reconnects if QEMU drops the connection."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            try:
                if self.sock is None:
                    self.connect()
                self.sync(timeout=min(SYNC_TIMEOUT, max(0.1, deadline - time.monotonic())))
                return time.monotonic() - t0
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the agent did not answer guest-sync within {timeout}s")
            except OSError:  # no socket yet (QEMU starting), or QEMU dropped the connection
                self.close()
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"the agent did not answer guest-sync within {timeout}s")
                time.sleep(0.5)

    def execute(self, command, arguments=None, timeout=None, sync=True, req_id=None):
        """Sync (as libvirt does before each command), send one request, return the reply."""
        if sync:
            self.sync()
        req = {"execute": command}
        if arguments is not None:
            req["arguments"] = arguments
        if req_id is not None:
            req["id"] = req_id
        self.send(req)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            line = self.readline(deadline)
            try:
                msg = json.loads(line)
            except ValueError:
                raise ValueError(f"non-JSON reply to {command}: {line[:200]!r}") from None
            if req_id is not None and msg.get("id") != req_id:
                continue
            return msg

    def call(self, command, arguments=None, timeout=None):
        """The `return` value of a command; AgentError when the agent answers with an error."""
        reply = self.execute(command, arguments, timeout)
        if "error" in reply:
            raise AgentError(reply)
        if "return" not in reply:
            raise ValueError(f"reply to {command} has neither return nor error: {reply}")
        return reply["return"]

    def pve_execute(self, command, arguments=None, timeout=60.0, allow_close=False):
        """One command as Proxmox sends it: `{"execute":"guest-sync-delimited","arguments":
        {"id":N}}\n{"execute":command,...}\n` in a single write (no 0xFF from the host, no id
        on the command; N is "<pid>0<seq>" as an int), the reply matched with PVE_REPLY and
        the sync id checked (smaller ids are stale, skipped). Returns the command's reply object.
        allow_close (Proxmox does this for guest-shutdown and guest-suspend-*): QEMU closing the
        socket after the sync reply is success, and None is returned."""
        self._pve_seq += 1
        sid = int(f"{os.getpid()}0{self._pve_seq}")
        req = {"execute": command}
        if arguments is not None:
            req["arguments"] = arguments
        self.send_raw(json.dumps({"execute": "guest-sync-delimited", "arguments": {"id": sid}},
                                 separators=(",", ":")).encode() + b"\n" +
                      json.dumps(req, separators=(",", ":")).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            m = PVE_REPLY.match(self.buf)
            if m:
                sync_line, reply_line = m.group(1).split(b"\n", 1)
                sync = json.loads(sync_line)
                self.buf = m.group(2)
                got = sync.get("return") if isinstance(sync, dict) else None
                if isinstance(got, int) and got < sid:
                    continue  # a stale pair (Proxmox skips those too)
                if got != sid:
                    raise ValueError(f"guest-sync-delimited returned {sync!r}, sent id {sid}")
                return json.loads(reply_line)
            try:
                self._fill(deadline)
            except ConnectionError:
                m = PVE_SYNC_ONLY.match(self.buf)
                if allow_close and m and json.loads(m.group(1)).get("return") == sid:
                    return None
                raise

    def pve_call(self, command, arguments=None, timeout=60.0):
        """pve_execute's `return` value; AgentError when the agent answered with an error
        (Proxmox's agent_cmd dies with "Agent error: <desc>" then)."""
        reply = self.pve_execute(command, arguments, timeout)
        if "error" in reply:
            raise AgentError(reply)
        if "return" not in reply:
            raise ValueError(f"reply to {command} has neither return nor error: {reply}")
        return reply["return"]

    def transcript_tail(self, n=2000):
        text = b"".join((d.encode() + b" " + data if not data.endswith(b"\n") else
                         d.encode() + b" " + data) for d, data in self.transcript)
        return text[-n:].decode(errors="replace")
