#!/usr/bin/env bash
# Installs the programs that make and check rtmpscope's real-capture fixtures
# (tests/fixtures/make-fixtures.sh, scripts/make-bench-data.sh) and the interop
# tests: ffmpeg, nginx with the RTMP and stream modules, tshark, tcpdump, rtmpdump and
# GStreamer with rtmp2sink, x264enc and an AAC encoder.
#
# For Debian 12 (bookworm), run as root. Idempotent: when every program and
# plugin is already present it returns at once without touching apt.
set -euo pipefail

PACKAGES=(
  ffmpeg                      # ffmpeg, ffprobe (libx264, native AAC encoder)
  nginx                       # the server the fixtures talk to
  libnginx-mod-rtmp           # /usr/lib/nginx/modules/ngx_rtmp_module.so
  libnginx-mod-stream         # ngx_stream_module.so: TLS in front of nginx-rtmp (RTMPS tests)
  tshark                      # independent RTMP decoder (rtmpt dissector)
  tcpdump                     # loopback captures
  rtmpdump                    # librtmp client
  gstreamer1.0-tools          # gst-launch-1.0, gst-inspect-1.0
  gstreamer1.0-plugins-base   # videotestsrc, audiotestsrc, audioconvert
  gstreamer1.0-plugins-good   # flvmux, aacparse
  gstreamer1.0-plugins-bad    # rtmp2sink, h264parse
  gstreamer1.0-plugins-ugly   # x264enc
  gstreamer1.0-libav          # avenc_aac
  python3                     # the fixture scripts (standard library only)
  iproute2                    # ss, to wait for listening ports
)

RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
BINARIES=(ffmpeg ffprobe nginx tshark tcpdump rtmpdump gst-launch-1.0 gst-inspect-1.0 python3 ss)
GST_ELEMENTS=(videotestsrc audiotestsrc audioconvert flvmux rtmp2sink h264parse aacparse x264enc avenc_aac)

all_present() {
  local b e
  for b in "${BINARIES[@]}"; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
  [[ -f $RTMP_MODULE ]] || return 1
  [[ -f $STREAM_MODULE ]] || return 1
  for e in "${GST_ELEMENTS[@]}"; do
    gst-inspect-1.0 --exists "$e" 2>/dev/null || return 1
  done
}

if all_present; then
  echo "install-deps: everything already present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# `grep -q` would close the pipe early and, under pipefail, fail the check.
has_candidate() {
  local out
  out=$(apt-cache policy "$1" 2>/dev/null) || return 1
  [[ $out == *"Candidate: "[0-9]* ]]
}

# Refresh the package lists once: only when they are missing or a package is
# unknown to apt-cache (a fresh image ships without lists).
need_update=0
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  need_update=1
else
  for p in "${PACKAGES[@]}"; do
    if ! has_candidate "$p"; then
      need_update=1
      break
    fi
  done
fi
if [[ $need_update -eq 1 ]]; then
  apt-get update
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! has_candidate "$p"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: apt has no candidate for: ${missing[*]}" >&2
  exit 1
fi

# tshark's postinst asks whether non-root users may capture; answer no.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections

apt-get install -y --no-install-recommends "${PACKAGES[@]}"

if ! all_present; then
  echo "install-deps: installed, but something is still missing:" >&2
  for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || echo "  binary $b" >&2; done
  [[ -f $RTMP_MODULE ]] || echo "  $RTMP_MODULE" >&2
  [[ -f $STREAM_MODULE ]] || echo "  $STREAM_MODULE" >&2
  for e in "${GST_ELEMENTS[@]}"; do gst-inspect-1.0 --exists "$e" 2>/dev/null || echo "  gst element $e" >&2; done
  exit 1
fi
echo "install-deps: done"
