#!/usr/bin/env bash
# kafka.sh — a single-node Apache Kafka 4.x (KRaft, combined broker+controller)
# for local development and CI.
#
#   deploy/local/kafka.sh install   fetch Kafka and its runtime jars via Maven (once)
#   deploy/local/kafka.sh start     install if needed, format storage, start, wait until ready
#   deploy/local/kafka.sh stop      stop the broker cleanly
#   deploy/local/kafka.sh status    exit 0 and print the address when running
#
# Environment:
#   TETHER_CACHE                  cache root (default <repo>/.cache); Kafka lives in $TETHER_CACHE/kafka
#   TETHER_KAFKA_VERSION          org.apache.kafka:kafka_2.13 version (default 4.1.1)
#   TETHER_KAFKA_PORT             broker port on 127.0.0.1 (default 9092)
#   TETHER_KAFKA_CONTROLLER_PORT  controller port on 127.0.0.1 (default 9093)
#   TETHER_KAFKA_SASL_SSL_PORT    SASL_SSL listener on 127.0.0.1 (default 9094; 0 disables it)
#   TETHER_KAFKA_HEAP             JVM heap options (default "-Xms256m -Xmx512m")
#   TETHER_KAFKA_START_TIMEOUT    seconds to wait for readiness (default 120)
#   JAVA_HOME                     Java 17+ to run the broker (default: the machine's Java 17)
#
# Besides PLAINTEXT the broker serves a SASL_SSL listener for the security
# integration tests: TLS with a certificate from a private CA generated here
# (openssl, $TETHER_CACHE/kafka/tls: ca.crt, server.*, client.*), client
# certificates required, SASL mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
# and OAUTHBEARER (Kafka's unsecured JWT validator: for tests only). The SASL
# user is "tether"; its random password is generated once into
# $TETHER_CACHE/kafka/sasl/tether.password. SCRAM credentials are (re)set on
# every start through the Admin API (KafkaUsers.java).
#
# Everything (jars, config, data, logs, pid, certificates) stays under the
# cache folder, so `rm -rf .cache/kafka` resets it completely.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache_root="${TETHER_CACHE:-$repo/.cache}"
dir="$cache_root/kafka"
version="${TETHER_KAFKA_VERSION:-4.1.1}"
port="${TETHER_KAFKA_PORT:-9092}"
cport="${TETHER_KAFKA_CONTROLLER_PORT:-9093}"
sport="${TETHER_KAFKA_SASL_SSL_PORT:-9094}"
heap="${TETHER_KAFKA_HEAP:--Xms256m -Xmx512m}"
timeout="${TETHER_KAFKA_START_TIMEOUT:-120}"

libs="$dir/libs"
conf="$dir/config"
data="$dir/data"
logs="$dir/logs"
pidfile="$dir/kafka.pid"
tlsdir="$dir/tls"
sasl_user="tether"
sasl_pwfile="$dir/sasl/$sasl_user.password"
addr="127.0.0.1:$port"

log() { echo "kafka: $*" >&2; }
die() { echo "kafka: error: $*" >&2; exit 1; }
# shellcheck source=deploy/local/lib.sh
source "$here/lib.sh"

java_bin() {
	if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
		echo "$JAVA_HOME/bin/java"
		return
	fi
	local j
	for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-17*/bin/java /usr/lib/jvm/temurin-17*/bin/java; do
		if [[ -x "$j" ]]; then
			echo "$j"
			return
		fi
	done
	command -v java >/dev/null 2>&1 || die "no java found; install a Java 17 runtime (apt-get install openjdk-17-jre-headless)"
	command -v java
}

classpath() { echo "$libs/*"; }

# ensure_tools installs Java 17 and Maven from Debian's packages when they are
# missing and we are root (a fresh CI machine); otherwise it says what to do.
ensure_tools() {
	local missing=()
	command -v mvn >/dev/null 2>&1 || missing+=(maven)
	if ! command -v java >/dev/null 2>&1 && ! compgen -G '/usr/lib/jvm/java-17*/bin/java' >/dev/null; then
		missing+=(openjdk-17-jdk-headless)
	fi
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
	log "installing ${missing[*]} from the Debian archive"
	DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

installed() { [[ -f "$libs/.complete-$version" ]]; }

cmd_install() {
	if installed; then
		log "Kafka $version already installed in $libs"
		return 0
	fi
	ensure_tools
	mkdir -p "$dir"
	local pom="$dir/pom.xml"
	# The broker (kafka_2.13, which also holds kafka.tools.StorageTool) pulls in
	# kafka-server, -metadata, -raft, -storage, the group/transaction/share
	# coordinators and kafka-clients; they are listed explicitly so a change in
	# Kafka's published scopes fails loudly. slf4j-api 2 and log4j2's SLF4J 2
	# binding make the broker log to files (Kafka's poms leave the binding out).
	cat >"$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tether.local</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-metadata</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-raft</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-group-coordinator</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-transaction-coordinator</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-share-coordinator</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
	log "resolving org.apache.kafka:kafka_2.13:$version and its runtime dependencies with Maven (into $libs)"
	rm -rf "$libs"
	if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$libs" >"$dir/mvn.log" 2>&1; then
		tail -n 40 "$dir/mvn.log" >&2
		die "Maven could not resolve Kafka $version (full log: $dir/mvn.log)"
	fi
	local need
	for need in 'kafka_2.13-*' 'kafka-server-[0-9]*' 'kafka-metadata-*' 'kafka-raft-*' 'kafka-storage-[0-9]*' \
		'kafka-group-coordinator-[0-9]*' 'kafka-transaction-coordinator-*' 'kafka-share-coordinator-*' \
		'kafka-clients-*' 'scala-library-*' 'slf4j-api-2.*' 'log4j-slf4j2-impl-*' 'log4j-core-*'; do
		compgen -G "$libs/$need.jar" >/dev/null || die "resolved classpath lacks $need.jar (see $dir/mvn.log)"
	done
	touch "$libs/.complete-$version"
	log "installed Kafka $version: $(find "$libs" -name '*.jar' | wc -l) jars in $libs"
}

sasl_enabled() { [[ $sport != 0 ]]; }

# ensure_sasl_material generates the listener's certificates and the SASL
# user's password (once) and the PEM key store the broker reads.
ensure_sasl_material() {
	sasl_enabled || return 0
	ensure_tls_certs "$tlsdir" localhost tether-test-client
	ensure_secret_file "$sasl_pwfile"
	(umask 077 && cat "$tlsdir/server.key" "$tlsdir/server.crt" >"$tlsdir/server.pem")
}

write_config() {
	mkdir -p "$conf" "$data" "$logs"
	local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
	local advertised="PLAINTEXT://127.0.0.1:$port"
	local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
	if sasl_enabled; then
		listeners+=",SASL_SSL://127.0.0.1:$sport"
		advertised+=",SASL_SSL://127.0.0.1:$sport"
		protocols+=",SASL_SSL:SASL_SSL"
	fi
	(umask 077 && : >"$conf/server.properties")
	cat >"$conf/server.properties" <<EOF
# Generated by deploy/local/kafka.sh — single combined broker+controller (KRaft).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocols
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
EOF
	if sasl_enabled; then
		local pw
		pw="$(cat "$sasl_pwfile")"
		cat >>"$conf/server.properties" <<EOF
# SASL_SSL listener for the security tests (see the header of kafka.sh).
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$tlsdir/server.pem
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location=$tlsdir/ca.crt
listener.name.sasl_ssl.ssl.client.auth=required
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$pw";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="$sasl_user";
EOF
	fi
	cat >"$conf/log4j2.properties" <<EOF
status = warn
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $logs/server.log
appender.file.filePattern = $logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
EOF
}

jvm_common() {
	echo "-Dlog4j2.configurationFile=$conf/log4j2.properties -Dkafka.logs.dir=$logs -Djava.awt.headless=true"
}

# pid_alive reports whether the pid file names a live Kafka broker started
# from this cache folder (not just any process that reused the pid).
pid_alive() {
	pidfile_alive "$pidfile" || return 1
	local pid
	pid="$(cat "$pidfile")"
	[[ -r "/proc/$pid/cmdline" ]] || return 0
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $conf/server.properties"
}

# probe waits up to $1 seconds for the broker to serve metadata with at least
# one live broker, using kafka-clients' Admin API (KafkaProbe.java).
probe() {
	local secs="$1" java
	java="$(java_bin)"
	# shellcheck disable=SC2046
	"$java" -Xmx128m $(jvm_common) -Dlog4j2.level=ERROR -cp "$(classpath)" \
		"$here/KafkaProbe.java" "$addr" "$secs" 2>>"$logs/probe.log"
}

# ensure_scram_users sets the SASL user's SCRAM credentials (idempotent:
# an upsert through the Admin API, so it also works on storage formatted
# before the SASL_SSL listener existed).
ensure_scram_users() {
	sasl_enabled || return 0
	local java
	java="$(java_bin)"
	# shellcheck disable=SC2046
	if ! "$java" -Xmx128m $(jvm_common) -Dlog4j2.level=ERROR -cp "$(classpath)" \
		"$here/KafkaUsers.java" "$addr" "$sasl_user" "$sasl_pwfile" >>"$logs/users.log" 2>&1; then
		tail -n 20 "$logs/users.log" >&2
		die "could not set the SCRAM credentials of $sasl_user (see $logs/users.log)"
	fi
}

format_storage() {
	[[ -f "$data/meta.properties" ]] && return 0
	local java cid
	java="$(java_bin)"
	# shellcheck disable=SC2046
	cid="$("$java" -Xmx128m $(jvm_common) -cp "$(classpath)" kafka.tools.StorageTool random-uuid 2>>"$logs/format.log" | tail -n1)"
	[[ -n "$cid" ]] || die "could not generate a cluster id (see $logs/format.log)"
	log "formatting KRaft storage in $data (cluster id $cid)"
	# shellcheck disable=SC2046
	if ! "$java" -Xmx128m $(jvm_common) -cp "$(classpath)" kafka.tools.StorageTool format \
		-t "$cid" -c "$conf/server.properties" --ignore-formatted >>"$logs/format.log" 2>&1; then
		tail -n 20 "$logs/format.log" >&2
		die "storage format failed (see $logs/format.log)"
	fi
}

cmd_start() {
	if pid_alive; then
		mkdir -p "$logs"
		if port_open "$port"; then
			log "already running (pid $(cat "$pidfile")) on $addr"
			echo "$addr"
			return 0
		fi
		log "pid $(cat "$pidfile") is starting; waiting for it"
		if probe "$timeout" >/dev/null; then
			log "already running (pid $(cat "$pidfile")) on $addr"
			echo "$addr"
			return 0
		fi
		die "pid $(cat "$pidfile") runs but $addr does not serve metadata; run $0 stop and retry (logs in $logs)"
	fi
	rm -f "$pidfile"
	if port_open "$port"; then
		cmd_install
		mkdir -p "$logs"
		if probe 10 >/dev/null; then
			log "a Kafka broker not started by this script already serves $addr; using it"
			echo "$addr"
			return 0
		fi
		die "port $port is taken by something that is not a Kafka broker"
	fi
	cmd_install
	ensure_sasl_material
	write_config
	format_storage
	local java
	java="$(java_bin)"
	log "starting Kafka $version on $addr (controller 127.0.0.1:$cport), logs in $logs"
	rm -f "$pidfile"
	# setsid puts the broker in its own session so that a Ctrl-C in the shell
	# that ran `make test` does not take it down; the inner shell records its
	# own pid and then execs the JVM, so the pid file names the broker.
	# shellcheck disable=SC2086,SC2046,SC2016
	setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
		"$java" $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
		$(jvm_common) -cp "$(classpath)" kafka.Kafka "$conf/server.properties" \
		>"$logs/stdout.log" 2>&1 </dev/null &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s "$pidfile" ]] && break
		sleep 0.05
	done
	[[ -s "$pidfile" ]] || die "the broker process did not start (see $logs/stdout.log)"
	local pid
	pid="$(cat "$pidfile")"
	# Wait for the listener first (cheap), then for metadata via the Admin API.
	local deadline=$((SECONDS + timeout))
	until port_open "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 40 "$logs/server.log" "$logs/stdout.log" >&2 2>/dev/null || true
			rm -f "$pidfile"
			die "Kafka exited during startup"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 40 "$logs/server.log" "$logs/stdout.log" >&2 2>/dev/null || true
			die "Kafka did not open $addr within ${timeout}s"
		fi
		sleep 0.5
	done
	local left=$((deadline - SECONDS))
	if ((left < 5)); then left=5; fi
	if ! probe "$left" >/dev/null; then
		tail -n 40 "$logs/server.log" >&2 2>/dev/null || true
		tail -n 5 "$logs/probe.log" >&2 2>/dev/null || true
		die "Kafka on $addr did not serve metadata within ${timeout}s"
	fi
	ensure_scram_users
	if sasl_enabled; then
		log "ready on $addr and SASL_SSL 127.0.0.1:$sport (pid $pid)"
	else
		log "ready on $addr (pid $pid)"
	fi
	echo "$addr"
}

cmd_stop() {
	if ! pid_alive; then
		rm -f "$pidfile"
		log "not running"
		return 0
	fi
	stop_pidfile "$pidfile" 120 0.5
}

cmd_status() {
	if pid_alive && port_open "$port"; then
		echo "kafka: running (pid $(cat "$pidfile")) on $addr"
		return 0
	fi
	if port_open "$port"; then
		echo "kafka: $addr is open but not managed by this script"
		return 0
	fi
	if pid_alive; then
		echo "kafka: starting (pid $(cat "$pidfile")), $addr not open yet"
		return 1
	fi
	echo "kafka: stopped"
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
