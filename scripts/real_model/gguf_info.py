"""Prints what a GGUF file says it is: the header's model name, architecture, size label and
quantisation, so a run records which model it really served. Usage: gguf_info.py MODEL.gguf"""
import struct
import sys

# GGUF metadata value types (gguf.md in the llama.cpp repository).
SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9
# llama_ftype values for the file types small instruct models ship in.
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
              13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K"}


def read(f, fmt):
    return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]


def value(f, kind):
    if kind == STRING:
        return f.read(read(f, "Q")).decode("utf-8", "replace")
    if kind == ARRAY:
        item, count = read(f, "I"), read(f, "Q")
        return [value(f, item) for _ in range(count)]
    return read(f, SCALARS[kind])


def main():
    with open(sys.argv[1], "rb") as f:
        if f.read(4) != b"GGUF":
            sys.exit(f"{sys.argv[1]} is not a GGUF file (no GGUF magic)")
        version, _tensors, entries = read(f, "I"), read(f, "Q"), read(f, "Q")
        meta = {}
        for _ in range(entries):
            key = f.read(read(f, "Q")).decode()
            kind = read(f, "I")
            v = value(f, kind)
            if not isinstance(v, list):
                meta[key] = v
    arch = meta.get("general.architecture", "?")
    print(f"name: {meta.get('general.name', '?')}")
    print(f"architecture: {arch}, size: {meta.get('general.size_label', '?')}, "
          f"quantisation: {FILE_TYPES.get(meta.get('general.file_type'), meta.get('general.file_type', '?'))}, "
          f"trained context: {meta.get(arch + '.context_length', '?')}, GGUF v{version}")


if __name__ == "__main__":
    main()
