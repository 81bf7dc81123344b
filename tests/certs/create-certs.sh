#!/bin/sh
# Regenerates the test certificates (certtool, from Debian's gnutls-bin).
# They are committed; run this only to renew them (they last 20 years).
#
#   ca.pem                the test CA the tests trust
#   server.pem            localhost / 127.0.0.1, signed by the CA
#   server-2.pem          the same names, another key, signed by the CA
#   wrong-host.pem        example.invalid only, signed by the CA
#   expired.pem           localhost / 127.0.0.1, expired in 2020, signed by the CA
#   self-signed.pem       localhost / 127.0.0.1, nobody vouches for it
#   self-signed-2.pem     the same, another key (a certificate that changed)
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

key () { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1" 2>/dev/null; }

cat > "$tmp/ca.tmpl" <<T
cn = "Kletsen Test CA"
ca
cert_signing_key
expiration_days = 7300
T
key ca-key.pem
certtool --generate-self-signed --load-privkey ca-key.pem --template "$tmp/ca.tmpl" --outfile ca.pem 2>/dev/null

server_tmpl () {
  cat > "$tmp/$1.tmpl" <<T
cn = "$2"
dns_name = "$2"
$3
tls_www_server
signing_key
encryption_key
$4
T
}

signed () { # name cn extra dates
  server_tmpl "$1" "$2" "$3" "$4"
  key "$1-key.pem"
  certtool --generate-certificate --load-privkey "$1-key.pem" --load-ca-certificate ca.pem \
    --load-ca-privkey ca-key.pem --template "$tmp/$1.tmpl" --outfile "$1.pem" 2>/dev/null
}

self_signed () {
  server_tmpl "$1" localhost 'ip_address = "127.0.0.1"' 'expiration_days = 7300'
  key "$1-key.pem"
  certtool --generate-self-signed --load-privkey "$1-key.pem" --template "$tmp/$1.tmpl" --outfile "$1.pem" 2>/dev/null
}

signed server localhost 'ip_address = "127.0.0.1"' 'expiration_days = 7300'
signed server-2 localhost 'ip_address = "127.0.0.1"' 'expiration_days = 7300'
signed wrong-host example.invalid '' 'expiration_days = 7300'
signed expired localhost 'ip_address = "127.0.0.1"' 'activation_date = "2019-01-01 00:00:00 UTC"
expiration_date = "2020-01-01 00:00:00 UTC"'
self_signed self-signed
self_signed self-signed-2
rm -f ca-key.pem
ls
