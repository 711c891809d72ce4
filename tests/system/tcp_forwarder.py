"""A TCP forwarder that can cut or stall a link: the WAN between the gateway and a
cloud broker (test_bridge.py), or between a gateway and NATS (test_cluster.py)."""

import socket
import threading
import time

from conftest import HOST, free_port


class Forwarder:
    """A TCP forwarder 127.0.0.1:port -> 127.0.0.1:target that can cut or stall the link."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.pairs = []
        self.stalled = False
        self.listener = None
        self.accepted = 0
        self.restore()

    def restore(self):
        with self.lock:
            self.stalled = False
            if self.listener is None:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((HOST, self.port))
                s.listen(16)
                self.listener = s
                threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def cut(self):
        """Resets every connection through the link and refuses new ones."""
        with self.lock:
            listener, self.listener = self.listener, None
            pairs, self.pairs = self.pairs, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            except OSError:
                pass
            listener.close()
        for a, b in pairs:
            for s in (a, b):
                # Linger 0: the connection is reset. shutdown() first wakes the
                # pump blocked in recv() on it, which close() alone would not.
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def stall(self):
        """Keeps connections open but passes no more bytes (a dead WAN path)."""
        with self.lock:
            self.stalled = True

    def _accept(self, listener):
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection((HOST, self.target), timeout=5)
                up.settimeout(None)
            except OSError:
                down.close()
                continue
            with self.lock:
                self.pairs.append((down, up))
                self.accepted += 1
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            while True:
                with self.lock:
                    stalled = self.stalled
                if not stalled:
                    break
                time.sleep(0.05)  # holding the bytes while stalled; a cut or restore ends it
                if src.fileno() < 0:
                    return
            try:
                dst.sendall(data)
            except OSError:
                break
        with self.lock:
            if self.stalled:
                return  # a dead path tells neither side that the other went away
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
