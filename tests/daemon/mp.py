"""mp.py -- just enough msgpack and tmsd framing for the daemon tests
(the Python standard library has no msgpack; the test must not need pip)."""
import socket, struct

def pack(o):
    if o is None:
        return b"\xc0"
    if o is True:
        return b"\xc3"
    if o is False:
        return b"\xc2"
    if isinstance(o, int):
        if 0 <= o < 128:
            return bytes([o])
        if 0 <= o < 2**64:
            return b"\xcf" + struct.pack(">Q", o)
        return b"\xd3" + struct.pack(">q", o)
    if isinstance(o, str):
        b = o.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else b"\xdb" + struct.pack(">I", len(b))) + b
    if isinstance(o, bytes):
        return b"\xc6" + struct.pack(">I", len(o)) + o
    if isinstance(o, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(o)) + b"".join(pack(x) for x in o)
    if isinstance(o, dict):
        return b"\xdf" + struct.pack(">I", len(o)) + b"".join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(type(o))

def unpack(b, i=0):
    t = b[i]
    if t < 0x80: return t, i + 1
    if t >= 0xe0: return t - 256, i + 1
    if 0x80 <= t <= 0x8f: return _map(b, i + 1, t & 15)
    if 0x90 <= t <= 0x9f: return _arr(b, i + 1, t & 15)
    if 0xa0 <= t <= 0xbf: n = t & 31; return b[i+1:i+1+n].decode(), i + 1 + n
    if t == 0xc0: return None, i + 1
    if t == 0xc2: return False, i + 1
    if t == 0xc3: return True, i + 1
    ints = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
    if t in ints:
        f = ints[t]; n = struct.calcsize(f)
        return struct.unpack(f, b[i+1:i+1+n])[0], i + 1 + n
    strs = {0xd9: ">B", 0xda: ">H", 0xdb: ">I"}
    if t in strs:
        f = strs[t]; h = struct.calcsize(f); n = struct.unpack(f, b[i+1:i+1+h])[0]
        return b[i+1+h:i+1+h+n].decode(), i + 1 + h + n
    if t in (0xdc, 0xdd):
        h = 2 if t == 0xdc else 4; n = struct.unpack(">H" if h == 2 else ">I", b[i+1:i+1+h])[0]
        return _arr(b, i + 1 + h, n)
    if t in (0xde, 0xdf):
        h = 2 if t == 0xde else 4; n = struct.unpack(">H" if h == 2 else ">I", b[i+1:i+1+h])[0]
        return _map(b, i + 1 + h, n)
    raise ValueError("msgpack type 0x%x" % t)

def _arr(b, i, n):
    out = []
    for _ in range(n):
        v, i = unpack(b, i); out.append(v)
    return out, i

def _map(b, i, n):
    out = {}
    for _ in range(n):
        k, i = unpack(b, i); v, i = unpack(b, i); out[k] = v
    return out, i

def frame(obj):
    p = pack(obj)
    return struct.pack(">I", len(p)) + p

class Conn:
    def __init__(self, addr, timeout=10):
        if isinstance(addr, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(addr)
        self.buf = b""
        self.req = 0

    def send_raw(self, data):
        self.s.sendall(data)

    def read(self):
        """The next reply as a dict, or None when the server closed."""
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    v, _ = unpack(self.buf[4:4+n]); self.buf = self.buf[4+n:]
                    return v
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def call(self, op, **fields):
        self.req += 1
        d = {"op": op, "req": self.req}
        d.update(fields)
        self.s.sendall(frame(d))
        return self.read()

    def close(self):
        self.s.close()
