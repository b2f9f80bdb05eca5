#!/usr/bin/env bash
# clickhouse.sh — a private ClickHouse server for local development and CI.
#
#   deploy/local/clickhouse.sh install   install clickhouse-server/-client from Debian if missing
#   deploy/local/clickhouse.sh start     start a server on 127.0.0.1 (native 9000, native TLS 9440, HTTP 8123)
#   deploy/local/clickhouse.sh stop      stop it
#   deploy/local/clickhouse.sh status    report whether it runs and answers queries
#
# The server is not the system service: it runs as a background process with
# its own config, data and log folders under $TETHER_CACHE/clickhouse (default
# <repo>/.cache/clickhouse, git-ignored). `start` is idempotent and waits until
# the server answers a query. Works as root on a fresh machine.
#
# The secure native port serves TLS with a certificate from a private CA
# generated once with openssl into $TETHER_CACHE/clickhouse/tls (ca.crt,
# server.*, client.*): clients verify it with ca.crt.
#
# Environment:
#   TETHER_CACHE                 cache root (default <repo>/.cache); server files in $TETHER_CACHE/clickhouse
#   TETHER_CLICKHOUSE_TCP_PORT   native port (default 9000)
#   TETHER_CLICKHOUSE_HTTP_PORT  HTTP port (default 8123)
#   TETHER_CLICKHOUSE_TLS_PORT   secure native port, TLS (default 9440; 0 disables it)
#   TETHER_CLICKHOUSE_TIMEOUT    seconds `start` waits for the server (default 60)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE_ROOT="${TETHER_CACHE:-$REPO/.cache}"
DIR="$CACHE_ROOT/clickhouse"
TCP_PORT="${TETHER_CLICKHOUSE_TCP_PORT:-9000}"
HTTP_PORT="${TETHER_CLICKHOUSE_HTTP_PORT:-8123}"
TLS_PORT="${TETHER_CLICKHOUSE_TLS_PORT:-9440}"
TLSDIR="$DIR/tls"
TIMEOUT="${TETHER_CLICKHOUSE_TIMEOUT:-60}"
PIDFILE="$DIR/clickhouse.pid"
LOG="$DIR/log/clickhouse-server.log"
ERRLOG="$DIR/log/clickhouse-server.err.log"
STDLOG="$DIR/log/stdout.log"

log() { echo "clickhouse.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# server_cmd prints the command that runs the server, or nothing.
server_cmd() {
	if command -v clickhouse-server >/dev/null 2>&1; then
		echo clickhouse-server
	elif command -v clickhouse >/dev/null 2>&1; then
		echo "clickhouse server"
	fi
}

# client_cmd prints the command that runs the client, or nothing.
client_cmd() {
	if command -v clickhouse-client >/dev/null 2>&1; then
		echo clickhouse-client
	elif command -v clickhouse >/dev/null 2>&1; then
		echo "clickhouse client"
	fi
}

cmd_install() {
	if [[ -n "$(server_cmd)" && -n "$(client_cmd)" ]]; then
		log "ClickHouse already installed: $(command -v clickhouse-server || command -v clickhouse)"
		return 0
	fi
	local sudo=""
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install clickhouse-server and clickhouse-client by hand"
		sudo="sudo"
	fi
	log "installing clickhouse-server and clickhouse-client from the Debian archive"
	export DEBIAN_FRONTEND=noninteractive
	# apt output goes to stderr: callers may capture stdout (services.sh up).
	$sudo apt-get update -q >&2
	# The package's postinst may try to start the system service; policy-rc.d
	# forbids that (we run our own instance, and there is no init in CI).
	local policy=/usr/sbin/policy-rc.d created_policy=""
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod +x "$policy"
		created_policy=1
	fi
	local rc=0
	$sudo apt-get install -y -q --no-install-recommends clickhouse-server clickhouse-client >&2 || rc=$?
	[[ -n $created_policy ]] && $sudo rm -f "$policy"
	[[ $rc -eq 0 ]] || die "apt-get install failed (exit $rc)"
	[[ -n "$(server_cmd)" ]] || die "installed, but no clickhouse-server binary on PATH"
	log "installed: $($(client_cmd) --version 2>/dev/null || true)"
}

# running reports whether the pid file names a live ClickHouse process (a
# stale pid file may name an unrelated process after a reboot).
running() {
	alive || return 1
	grep -q clickhouse "/proc/$(cat "$PIDFILE")/cmdline" 2>/dev/null
}

# alive reports whether the pid file names a live process.
alive() { pidfile_alive "$PIDFILE"; }

# answers reports whether the server answers a query on the native port.
answers() {
	local client
	client="$(client_cmd)"
	[[ -n $client ]] || return 1
	$client --host 127.0.0.1 --port "$TCP_PORT" --query "SELECT 1" >/dev/null 2>&1
}

# tls_config prints the secure native port's settings (none when disabled).
# verificationMode none: the server does not ask for client certificates.
tls_config() {
	[[ $TLS_PORT != 0 ]] || return 0
	cat <<XML
    <tcp_port_secure>$TLS_PORT</tcp_port_secure>
    <openSSL>
        <server>
            <certificateFile>$TLSDIR/server.crt</certificateFile>
            <privateKeyFile>$TLSDIR/server.key</privateKeyFile>
            <verificationMode>none</verificationMode>
            <loadDefaultCAFile>false</loadDefaultCAFile>
            <cacheSessions>true</cacheSessions>
            <disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols>
            <preferServerCiphers>true</preferServerCiphers>
        </server>
    </openSSL>
XML
}

write_config() {
	mkdir -p "$DIR/data" "$DIR/tmp" "$DIR/user_files" "$DIR/format_schemas" "$DIR/log"
	if [[ $TLS_PORT != 0 ]]; then
		ensure_tls_certs "$TLSDIR" localhost tether-test-client
	fi
	# A minimal config understood by 18.16 through current releases. The
	# <yandex> root is what old servers require; current ones still accept it.
	cat >"$DIR/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$LOG</log>
        <errorlog>$ERRLOG</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$TCP_PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>
$(tls_config)
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>8589934592</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$DIR/data/</path>
    <tmp_path>$DIR/tmp/</tmp_path>
    <user_files_path>$DIR/user_files/</user_files_path>
    <format_schema_path>$DIR/format_schemas/</format_schema_path>
    <users_config>$DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
XML
	cat >"$DIR/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
}

tail_logs() {
	local f
	for f in "$ERRLOG" "$STDLOG" "$LOG"; do
		if [[ -s $f ]]; then
			echo "--- last lines of $f ---" >&2
			tail -n 30 "$f" >&2
		fi
	done
}

cmd_start() {
	local server
	server="$(server_cmd)"
	[[ -n $server ]] || die "ClickHouse is not installed: run $0 install"
	if running; then
		if answers; then
			log "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$TCP_PORT"
			return 0
		fi
		log "pid $(cat "$PIDFILE") is alive but does not answer yet; waiting"
	else
		if answers; then
			die "something else already answers on 127.0.0.1:$TCP_PORT (not started by this script); stop it or set TETHER_CLICKHOUSE_TCP_PORT"
		fi
		rm -f "$PIDFILE"
		write_config
		log "starting ClickHouse on 127.0.0.1:$TCP_PORT (HTTP $HTTP_PORT, TLS ${TLS_PORT/#0/off}), files in $DIR"
		# As root with root-owned folders the server runs as root. setsid
		# detaches it from the caller's terminal; since this script has no job
		# control, the background job is not a process-group leader, so setsid
		# execs in place and $! is the server's own pid.
		(cd "$DIR" && exec setsid $server --config-file="$DIR/config.xml" \
			</dev/null >>"$STDLOG" 2>&1) &
		echo $! >"$PIDFILE"
	fi
	local deadline=$((SECONDS + TIMEOUT))
	while ((SECONDS < deadline)); do
		if answers; then
			log "ready: $($(client_cmd) --host 127.0.0.1 --port "$TCP_PORT" --query 'SELECT version()' 2>/dev/null) (pid $(cat "$PIDFILE"))"
			return 0
		fi
		if ! alive; then
			log "error: the server exited during start-up"
			tail_logs
			rm -f "$PIDFILE"
			exit 1
		fi
		sleep 0.5
	done
	log "error: the server did not answer a query on 127.0.0.1:$TCP_PORT within ${TIMEOUT}s" \
		"(pid $(cat "$PIDFILE" 2>/dev/null) left running: '$0 stop' ends it; TETHER_CLICKHOUSE_TIMEOUT waits longer)"
	tail_logs
	exit 1
}

cmd_stop() {
	if ! running; then
		rm -f "$PIDFILE"
		log "not running"
		return 0
	fi
	stop_pidfile "$PIDFILE" 300 0.1
}

cmd_status() {
	if running; then
		if answers; then
			echo "running (pid $(cat "$PIDFILE")) on 127.0.0.1:$TCP_PORT, answering queries"
			return 0
		fi
		echo "process $(cat "$PIDFILE") alive but not answering on 127.0.0.1:$TCP_PORT"
		return 1
	fi
	echo "not running"
	return 3
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*)
	echo "usage: $0 install|start|stop|status" >&2
	exit 2
	;;
esac
