#!/usr/bin/env bash
# Virtual microphone and speaker for headless machines (CI, containers): a PulseAudio daemon with two
# null sinks at Voice Live's format (24 kHz, mono, s16le), so PortAudio streams are real-time and bit-exact.
#
#   eval "$(scripts/virtual_audio.sh start)"   # prints: export PULSE_SERVER=...
#   scripts/virtual_audio.sh stop
#
# Devices: the default sink is `speaker` (hear it on `speaker.monitor`); the default source is
# `micfeed.monitor`, so `paplay --device=micfeed file.wav` "speaks" into the microphone without any echo
# from the speaker. Only the export line goes to stdout; progress and errors go to stderr.
set -euo pipefail

RT=${VOICELIVE_LAB_PULSE_DIR:-${TMPDIR:-/tmp}/voicelive-lab-pulse}
SERVER="unix:$RT/native"
FORMAT="rate=24000 channels=1 format=s16le"
SINKS=(speaker micfeed)

say() { echo "virtual_audio: $*" >&2; }

pa() { PULSE_SERVER=$SERVER PULSE_RUNTIME_PATH=$RT "$@"; }

server_up() { pa pactl info >/dev/null 2>&1; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_daemon() {
    mkdir -p "$RT"
    chmod 700 "$RT"
    command -v pulseaudio >/dev/null || {
        say "pulseaudio is not installed. Install it with: sudo apt-get install --no-install-recommends pulseaudio"
        exit 1
    }
    # -n: no default.pa; anonymous auth is safe because the socket lives in a private (0700) directory.
    pa pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 --disallow-exit -n \
        --use-pid-file=yes --log-target="file:$RT/pulse.log" \
        --load="module-native-protocol-unix auth-anonymous=1" \
        --load="module-null-sink sink_name=speaker $FORMAT sink_properties=device.description=VirtualSpeaker" \
        --load="module-null-sink sink_name=micfeed $FORMAT sink_properties=device.description=VirtualMicFeed" \
        2>>"$RT/pulse.log"
    for _ in $(seq 50); do
        server_up && return 0
        sleep 0.1
    done
    say "PulseAudio did not answer within 5 s; see $RT/pulse.log"
    exit 1
}

# A silent stream on each null sink keeps it awake; without one the first real stream stalls for ~1.7 s.
start_keepalives() {
    local sink
    for sink in "${SINKS[@]}"; do
        alive "$RT/keepalive-$sink.pid" && continue
        PULSE_SERVER=$SERVER nohup pacat --playback --raw --rate=24000 --channels=1 --format=s16le \
            --latency-msec=20 --device="$sink" --stream-name="keepalive-$sink" /dev/zero >/dev/null 2>&1 &
        echo $! >"$RT/keepalive-$sink.pid"
    done
}

start() {
    if server_up; then
        say "already running ($SERVER)"
    else
        start_daemon
        say "started PulseAudio ($SERVER)"
    fi
    pa pactl set-default-sink speaker
    pa pactl set-default-source micfeed.monitor
    start_keepalives
    echo "export PULSE_SERVER=$SERVER"
}

stop() {
    local pidfile
    for pidfile in "$RT"/keepalive-*.pid; do
        [ -f "$pidfile" ] || continue
        alive "$pidfile" && kill "$(cat "$pidfile")"
        rm -f "$pidfile"
    done
    if alive "$RT/pid"; then
        local pid
        pid=$(cat "$RT/pid")
        kill "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        say "stopped PulseAudio"
    else
        say "not running"
    fi
    rm -f "$RT/pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
