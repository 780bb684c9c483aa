#!/bin/sh
# First start on an empty data directory: create the system tables, then run init.sql once
# with networking off; every start then runs the server in the foreground.
set -e
if [ ! -d /var/lib/mysql/mysql ]; then
  chown -R mysql:mysql /var/lib/mysql
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
  mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0
  until mariadb --socket=/run/mysqld/init.sock -e 'SELECT 1' >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 120 ] || { echo "database did not start" >&2; exit 1; }
    sleep 0.5
  done
  mariadb --socket=/run/mysqld/init.sock < /docker-entrypoint-initdb.d/init.sql
  kill "$pid"; wait "$pid" || true
fi
exec "$@"
