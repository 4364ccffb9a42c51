#!/usr/bin/env bash
# Development certificates (two levels: one root CA, then one certificate per server and per calling service).
#   npm run certs:dev                       -> .certs/ with ca, server (localhost, 127.0.0.1, ::1), greeter-a, greeter-b
#   bash scripts/certs-dev.sh DIR NAME...   -> DIR/ with ca, server and a client certificate per NAME
# A client certificate's subject CN is the caller's identity (logs, per-caller rate limits). Never for production.
set -euo pipefail
dir=${1:-.certs}; shift || true
clients=("$@"); [ ${#clients[@]} -gt 0 ] || clients=(greeter-a greeter-b)
mkdir -p "$dir"; cd "$dir"
quiet() { "$@" >/dev/null 2>&1; }

quiet openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=effect-microservice dev CA" \
  -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

issue() { # issue NAME SUBJECT EXTENSIONS
  quiet openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out "$1.crt" -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}
issue server "/CN=localhost" "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment"
for name in "${clients[@]}"; do
  issue "client-$name" "/CN=$name" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
done
chmod 600 ./*.key
echo "certificates in $(pwd): ca.crt, server.{crt,key}, $(printf 'client-%s.{crt,key} ' "${clients[@]}")"
