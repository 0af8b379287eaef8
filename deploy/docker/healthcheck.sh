#!/bin/bash
# Container health check of a service image: GET /health (liveness, no database) on the service's
# own port through bash's /dev/tcp, since the runtime image has no curl or wget. Exits 0 when the
# service answers 200 within 3 s, 1 otherwise (the only two codes Docker defines).
#
# Used by the image's HEALTHCHECK and by docker-compose.yml. PORT is set in the image (one value
# per service) and may be overridden at run time; the check follows it.
set -uo pipefail

port=${PORT:-}
[[ $port =~ ^[0-9]+$ ]] || { echo "healthcheck: PORT is not a port number: '$port'" >&2; exit 1; }
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3 || exit 1
IFS= read -r -t 3 status <&3 || exit 1
[[ $status =~ ^HTTP/[0-9.]+\ 200\  ]] || exit 1
