# Shared by the benchmark scripts: source it from the repository root.

# Installs wrk with apt-get when it is missing and this runs as root; otherwise says what to do.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null; }
  else
    echo "wrk is needed: apt-get install wrk" >&2
    exit 1
  fi
}

# A TCP port that is free on loopback right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
