"""tcpproxy.py -- a threaded TCP proxy to cut one client (one tmsd) from NATS.

    p = Proxy("127.0.0.1", nats_port)   # listens on an ephemeral 127.0.0.1 port
    p.port, p.url                       # nats://127.0.0.1:PORT: give it to the client
    p.cut()                             # every proxied connection closed at once; new ones closed on accept
    p.heal()                            # accept and forward again
    p.freeze()                          # a black hole: connections stay open, no byte goes through either way
                                        # (new connections are accepted and held the same way)
    p.thaw()                            # forward again; what was held back in the kernel's buffers flows on
    p.close()                           # listener and every connection closed, threads joined (bounded)

freeze() is what a network partition looks to TCP: the peer sees neither an
error nor data, only silence, until its own timeouts (NATS pings) give up.
The proxy stops reading while frozen, so bytes sent meanwhile wait in the
sockets' buffers and are delivered in order at thaw(), as TCP retransmission
would after a partition heals; nothing is dropped or reordered.
"""
import select, socket, threading


class Proxy:
    POLL = 0.05  # seconds between looks at the state flags

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.url = "nats://127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.pairs = []             # [client socket, upstream socket] per live connection
        self.threads = []
        self.accepted = 0           # connections accepted so far (held ones and refused ones too)
        self.is_cut = self.is_frozen = self.closed = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._start(self._accept_loop)

    def _start(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        with self.lock:
            self.threads = [x for x in self.threads if x.is_alive()] + [t]

    @staticmethod
    def _close(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def _accept_loop(self):
        while not self.closed:
            try:
                r, _, _ = select.select([self.ls], [], [], self.POLL)
                if not r:
                    continue
                c, _ = self.ls.accept()
            except (OSError, ValueError):
                return
            self.accepted += 1
            if self.is_cut or self.closed:
                self._close(c)
                continue
            self._start(self._connect, c)

    def _connect(self, c):
        try:
            u = socket.create_connection(self.target, timeout=5)
        except OSError:
            self._close(c)
            return
        u.settimeout(None)
        pair = [c, u]
        with self.lock:
            if self.is_cut or self.closed:
                self._close(c)
                self._close(u)
                return
            self.pairs.append(pair)
        self._start(self._pump, c, u, pair)
        self._start(self._pump, u, c, pair)

    def _pump(self, src, dst, pair):
        try:
            while not self.closed and src.fileno() >= 0:
                if not self._flowing.wait(self.POLL):
                    continue            # frozen: read nothing, the bytes wait in the kernel
                r, _, _ = select.select([src], [], [], self.POLL)
                if not r or not self._flowing.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        with self.lock:
            if pair in self.pairs:
                self.pairs.remove(pair)
        for s in pair:
            self._close(s)

    @property
    def connections(self):
        """How many proxied connections are open now."""
        with self.lock:
            return len(self.pairs)

    def cut(self):
        """Close every proxied connection at once; close new ones as soon as they are accepted."""
        with self.lock:
            self.is_cut = True
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                self._close(s)

    def heal(self):
        """Accept and forward again after cut()."""
        self.is_cut = False

    def freeze(self):
        """Keep every connection open but forward nothing either way (a partition)."""
        self.is_frozen = True
        self._flowing.clear()

    def thaw(self):
        self.is_frozen = False
        self._flowing.set()

    def close(self, timeout=5):
        """Stop: the listener and every connection closed, the threads joined (each at most timeout seconds)."""
        if self.closed:
            return
        self.closed = True
        self._flowing.set()
        self._close(self.ls)
        self.cut()
        with self.lock:
            threads = list(self.threads)
        for t in threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
