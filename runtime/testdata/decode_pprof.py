"""Prints a gzip pprof profile as text, decoded with Google's protobuf.

Usage: decode_pprof.py PROFILE.pb.gz
Compiles profile.proto (Debian's golang-github-google-pprof-dev) with protoc
into a temporary directory, so the decoder shares no code with the encoder.
Output:
  sample_type TYPE UNIT
  sample COUNT key=value|key=value...
     FUNCTION @ FILE:LINE         (innermost first)
Exit status 3 when protoc, python3-protobuf or profile.proto is missing.
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

PROTO = "/usr/share/gocode/src/github.com/google/pprof/proto/profile.proto"


def main():
    missing = [what for what, ok in [
        ("protoc (protobuf-compiler)", shutil.which("protoc")),
        ("profile.proto (golang-github-google-pprof-dev)",
         os.path.exists(PROTO)),
    ] if not ok]
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        missing.append("python3-protobuf")
    if missing:
        print("missing: " + ", ".join(missing))
        return 3
    out = tempfile.mkdtemp()
    subprocess.check_call(["protoc", "-I", os.path.dirname(PROTO),
                           "--python_out", out, PROTO])
    sys.path.insert(0, out)
    import profile_pb2

    p = profile_pb2.Profile()
    with gzip.open(sys.argv[1]) as f:
        p.ParseFromString(f.read())
    st = p.string_table
    functions = {f.id: f for f in p.function}
    locations = {loc.id: loc for loc in p.location}
    for t in p.sample_type:
        print("sample_type", st[t.type], st[t.unit])
    for s in p.sample:
        labels = ["%s=%s" % (st[l.key], st[l.str]) for l in s.label]
        print("sample", s.value[0], "|".join(labels))
        for lid in s.location_id:
            for line in locations[lid].line:
                f = functions[line.function_id]
                print("   %s @ %s:%d" % (st[f.name], st[f.filename], line.line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
