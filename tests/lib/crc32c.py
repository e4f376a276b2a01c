"""crc32c.py -- CRC32C (Castagnoli), bit by bit: for tests and seed scripts
that write storage's files by hand (a snapshot header's checksum, a log
base). Slow; meant for a few kilobytes."""


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF
