"""Lists the items table of the database at $DB_HOST as plain text, one per line."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            conn = pymysql.connect(host=os.environ["DB_HOST"], user="web",
                                   password="web-secret", database="shop", connect_timeout=5)
            with conn, conn.cursor() as cur:
                cur.execute("SELECT name FROM items ORDER BY id")
                body = "".join(f"{name}\n" for (name,) in cur.fetchall()).encode()
            status = 200
        except pymysql.MySQLError as e:
            body, status = f"database error: {e}\n".encode(), 503
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
