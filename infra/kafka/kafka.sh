#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller) from the official jars, for development, tests and CI.
#
#   infra/kafka/kafka.sh fetch    resolve the pinned broker jars from Maven Central into .cache/lib
#   infra/kafka/kafka.sh start    fetch if needed, format storage once, start, wait until clients are served
#   infra/kafka/kafka.sh stop     stop the broker this script started (SIGTERM, then SIGKILL after a grace period)
#   infra/kafka/kafka.sh status   exit 0 when the broker answers on its port
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_HEAP (512m),
# KAFKA_DATA_DIR (.cache/data-<port>), KAFKA_START_TIMEOUT seconds (90).
# Re-running start is safe: a broker already answering on the port is reported and left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$here/.cache"
lib="$cache/lib"
port="${KAFKA_PORT:-9092}"
cport="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
heap="${KAFKA_HEAP:-512m}"
data="${KAFKA_DATA_DIR:-$cache/data-$port}"
pidfile="$cache/broker-$port.pid"
logfile="$cache/broker-$port.log"
timeout="${KAFKA_START_TIMEOUT:-90}"

say() { printf 'kafka: %s\n' "$*" >&2; }

version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml"; }

fetch() {
  local stamp="$lib/.resolved-$(version)"
  [[ -f "$stamp" ]] && return 0
  command -v mvn >/dev/null || { say "Maven (mvn) is required to resolve the broker jars"; exit 1; }
  command -v java >/dev/null || { say "Java 17+ is required to run the broker"; exit 1; }
  say "resolving org.apache.kafka:kafka_2.13:$(version) from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib" >&2
  touch "$stamp"
}

# True when something accepts TCP connections on the broker port.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

running_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid; pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null && ps -o args= -p "$pid" | grep -q 'kafka.Kafka' && { echo "$pid"; return 0; }
  return 1
}

write_config() {
  mkdir -p "$data"
  cat >"$cache/server-$port.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data
num.partitions=1
# One broker: internal topics cannot have more than one replica, or groups never find a coordinator.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
# Tests create groups constantly; do not wait for more members before the first assignment.
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.segment.bytes=67108864
PROPS
}

start() {
  fetch
  mkdir -p "$cache"
  if pid="$(running_pid)"; then say "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
  if listening; then say "something already serves 127.0.0.1:$port; using it"; return 0; fi
  write_config
  local cp="$lib/*"
  if [[ ! -f "$data/meta.properties" ]]; then
    local id; id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$cp" -Dlog4j2.configurationFile="$here/log4j2.yaml" kafka.tools.StorageTool format \
      -t "$id" -c "$cache/server-$port.properties" >>"$logfile" 2>&1
  fi
  say "starting Kafka $(version) on 127.0.0.1:$port (log: $logfile)"
  # setsid: the broker gets its own session so a Ctrl-C in a terminal reaches it only through stop().
  setsid java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.yaml" -cp "$cp" kafka.Kafka "$cache/server-$port.properties" \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + timeout))
  until grep -q 'Kafka Server started' "$logfile" 2>/dev/null && listening; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      say "broker exited during start; last lines of $logfile:"; tail -n 30 "$logfile" >&2; rm -f "$pidfile"; exit 1
    fi
    if ((SECONDS > deadline)); then say "broker not ready after ${timeout}s"; stop; exit 1; fi
    sleep 0.3
  done
  say "ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then rm -f "$pidfile"; say "not running on $port"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then say "broker did not stop in 30s; killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  say "stopped (pid $pid)"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) listening ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
