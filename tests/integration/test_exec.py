"""The exec commands over the socket (placeholder until the family lands)."""

import unittest

import qalib


class Test(unittest.TestCase):
    def test_answers(self):
        with qalib.Agent("--confine-mounts", "/nonexistent-confinement") as agent:
            client = agent.client()
            self.assertEqual(client.execute("guest-ping"), {"return": {}})
            client.close()


if __name__ == "__main__":
    unittest.main()
