#!/usr/bin/env python3
"""A webhook receiver for the events benchmark: answers every POST with 204 and appends one line
per request to RECORDS:

    <arrival, Unix seconds> <webhook-id> <event type> <data.id> <path>

The arrival is taken once the whole body is read, before it is parsed or answered. The first
line, `# listening <Unix seconds>`, says when the port began accepting connections: a receiver
restarted on the same port after an outage writes a new file, and its first line is the moment it
came back. Signatures are not verified (what is measured is the service, not the receiver).

    python3 events_receiver.py PORT RECORDS
"""

import http.server
import json
import sys
import threading
import time


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # The worker opens a connection per attempt, one at a time per subscription; a deeper queue
    # only matters if something else stalls this process.
    request_queue_size = 128


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    out = open(path, "a", buffering=1)  # line-buffered: readers see whole lines, soon
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            try:
                event = json.loads(body)
                kind, data_id = event.get("type", "-"), (event.get("data") or {}).get("id", "-")
            except (ValueError, AttributeError):
                kind, data_id = "unparsed", "-"
            webhook_id = self.headers.get("webhook-id", "-")
            with lock:
                out.write(f"{arrived:.6f} {webhook_id} {kind} {data_id} {self.path}\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = Receiver(("127.0.0.1", port), Handler)
    with lock:
        out.write(f"# listening {time.time():.6f}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
