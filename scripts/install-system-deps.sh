#!/usr/bin/env bash
# Install the Debian packages nnasr needs. Idempotent: installs only what is missing.
#   scripts/install-system-deps.sh run     # runtime: PortAudio (microphone), libsndfile
#   scripts/install-system-deps.sh test    # + sox, every offline TTS voice (corpus tests, training)
#                                          #   and the human dev/test set's recordings
set -euo pipefail
what="${1:-run}"
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

pkgs=(libportaudio2 libsndfile1)
if [ "$what" = "test" ] || [ "$what" = "train" ]; then
  pkgs+=(sox espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
         festvox-rablpc16k festvox-don wordnet-base)
  # RHVoice: English voices built from recorded speakers (trainer/data/neural_voices.py)
  pkgs+=(rhvoice rhvoice-english)
  # real recordings for the human dev/test set (trainer/data/human.py; never trained on)
  # (warzone2100-data: a 143 MB download, most of the dev set's sentences)
  pkgs+=(pocketsphinx-testdata ktuberling-data klettres-data alsa-utils warzone2100-data)
  # mbrola: the four English speakers, and 16 others that espeak-ng's mb-XX-en voices make
  # read English (training voices: more recorded speakers; trainer/data/voices.py)
  nonfree=(mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 libttspico-utils
           mbrola-af1 mbrola-nl2 mbrola-fr1 mbrola-fr4 mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4
           mbrola-de5 mbrola-de6 mbrola-gr2 mbrola-hu1 mbrola-pl1 mbrola-ro1 mbrola-sw1 mbrola-sw2)
fi

if [ "$what" = "run" ]; then
  echo "system packages: checking PortAudio (microphone input) and libsndfile (audio files)"
else
  echo "system packages: checking PortAudio, libsndfile, sox, the offline TTS voices (corpus, tests, training) and the human dev/test recordings"
fi
missing=()
for p in "${pkgs[@]}" ${nonfree[@]+"${nonfree[@]}"}; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "warning: no apt-get; install these yourself: ${missing[*]}" >&2
  exit 0
fi
# mbrola and pico live in Debian's contrib/non-free components: enable them once.
for f in /etc/apt/sources.list.d/debian.sources; do
  if [ -f "$f" ] && grep -q '^Components: main$' "$f"; then
    echo "system packages: enabling Debian's contrib and non-free components in $f (the mbrola and pico voices live there)"
    $SUDO sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' "$f"
  fi
done
if [ -f /etc/apt/sources.list ] && grep -qE '^deb .* main$' /etc/apt/sources.list; then
  echo "system packages: enabling Debian's contrib and non-free components in /etc/apt/sources.list (the mbrola and pico voices live there)"
  $SUDO sed -i -E 's/^(deb .* main)$/\1 contrib non-free/' /etc/apt/sources.list
fi
echo "system packages: apt-get update, then installing ${#missing[@]} missing: ${missing[*]}"
$SUDO apt-get update -q >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
if [ "${nonfree[@]+set}" = "set" ]; then
  echo "system packages: the non-free voices (mbrola speakers, pico), best effort"
  # non-free voices: best effort, synthesis uses whatever voices are present and says so
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${nonfree[@]}" >/dev/null \
    || echo "warning: could not install ${nonfree[*]} (enable contrib non-free); continuing" >&2
fi
echo "system packages: done"
