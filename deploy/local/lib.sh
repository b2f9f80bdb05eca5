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
