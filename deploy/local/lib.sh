# lib.sh: pid-file and port helpers shared by kafka.sh and clickhouse.sh.
# Source it after defining log (used by stop_pidfile for progress).

# pidfile_alive reports whether the pid file $1 names a live process.
pidfile_alive() {
	[[ -f $1 ]] || return 1
	local pid
	pid="$(cat "$1" 2>/dev/null)" || return 1
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# port_open reports whether something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_pidfile stops the process named by the pid file $1: SIGTERM, then
# up to $2 checks $3 seconds apart, then SIGKILL; it removes the pid file.
# The caller checks first that the pid file names its own live process.
stop_pidfile() {
	local file=$1 tries=$2 interval=$3 pid i
	pid="$(cat "$file")"
	log "stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < tries; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep "$interval"
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "still alive after $(awk "BEGIN { print $tries * $interval }")s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$file"
	log "stopped"
}

# ensure_tls_certs creates, once, a private CA and a server and a client
# certificate signed by it in folder $1 (PEM, openssl): ca.crt/ca.key,
# server.crt/server.key (SAN IP:127.0.0.1, DNS:localhost; CN $2) and
# client.crt/client.key (CN $3). Existing files are kept, so it is
# idempotent; delete the folder to renew them. Keys are mode 0600.
ensure_tls_certs() {
	local d=$1 server_cn=$2 client_cn=$3
	if [[ -s $d/ca.crt && -s $d/server.crt && -s $d/server.key && -s $d/client.crt && -s $d/client.key ]]; then
		return 0
	fi
	if ! command -v openssl >/dev/null 2>&1; then
		if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
			log "installing openssl from the Debian archive (test certificates)"
			DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >&2
		else
			die "openssl is needed to generate the test certificates (apt-get install openssl)"
		fi
	fi
	mkdir -p "$d"
	chmod 700 "$d"
	local tmp
	tmp="$(mktemp -d "$d/.gen.XXXXXX")"
	(
		set -e
		cd "$tmp"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=tether-local-test-ca" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout ca.key -out ca.crt
		openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$server_cn" -keyout server.key -out server.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
			-extfile server.ext -out server.crt
		openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=$client_cn" -keyout client.key -out client.csr
		printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
			-extfile client.ext -out client.crt
		chmod 644 ca.crt server.crt client.crt
		mv ca.crt ca.key server.crt server.key client.crt client.key ..
	) >"$d/openssl.log" 2>&1 || {
		cat "$d/openssl.log" >&2
		rm -rf "$tmp"
		die "generating certificates in $d failed"
	}
	rm -rf "$tmp"
	log "generated a test CA and server/client certificates in $d"
}

# ensure_secret_file writes a random password to file $1 unless it exists
# (mode 0600), so test credentials are never fixed in the repository.
ensure_secret_file() {
	[[ -s $1 ]] && return 0
	mkdir -p "$(dirname "$1")"
	(umask 077 && openssl rand -hex 16 >"$1")
}
