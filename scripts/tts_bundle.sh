#!/usr/bin/env bash
# Bundle this machine's offline TTS voices and WordNet text into one relocatable
# tarball, so a machine without them (a GPU machine without apt) can run
# `nnasr synth` itself:
#
#   here:   bash scripts/tts_bundle.sh .gpu/tts.tar.xz
#   there:  mkdir -p /tmp/tts && tar -xJf .gpu/tts.tar.xz -C /tmp/tts && . /tmp/tts/env.sh
#
# Carries espeak-ng (English data only), the mbrola binary with *training* voices only
# (trainer/data/voices.py's split; a dev or test voice is refused): us1 and en1 by default
# (27 MiB in all), or the diphone databases MBROLA names: MBROLA="us1 en1 ro1 pl1 fr1" adds
# three of the non-English speakers that read English through espeak-ng's mb-XX-en voices
# (36 MiB in all; all 16 would be ~100 MiB); flite with its
# voices, and WordNet's data
# files cut to their glosses. festival and pico are left out: their data paths are
# compiled in. libpcaudio (espeak-ng's audio output, which pulls in PulseAudio) is
# replaced by a stub: synthesis only ever writes to stdout. Libraries come from this
# machine (Debian bookworm, glibc 2.36); the target needs glibc >= that.
set -euo pipefail
OUT=${1:?output .tar.xz}
LIB=/usr/lib/x86_64-linux-gnu
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin" "$T/lib" "$T/espeak-ng-data/mbrola" "$T/wordnet"
cp -L /usr/bin/espeak-ng /usr/bin/mbrola /usr/bin/flite "$T/bin/"
cp -L "$LIB/libespeak-ng.so.1" "$LIB/libsonic.so.0" "$LIB/libasound.so.2" "$T/lib/"
cp -L "$LIB"/libflite*.so.1 "$T/lib/"
cat > "$T/pcaudio.c" <<'C'
/* stub of libpcaudio: no audio device; espeak-ng --stdout never plays */
#include <stddef.h>
struct audio_object;
struct audio_object *create_audio_device_object(const char *d, const char *a, const char *n) { return NULL; }
int audio_object_open(struct audio_object *o, int f, unsigned r, unsigned char c) { return -1; }
void audio_object_close(struct audio_object *o) {}
void audio_object_destroy(struct audio_object *o) {}
int audio_object_write(struct audio_object *o, const void *d, size_t b) { return -1; }
int audio_object_drain(struct audio_object *o) { return 0; }
int audio_object_flush(struct audio_object *o) { return 0; }
const char *audio_object_strerror(struct audio_object *o, int e) { return "no audio (stub)"; }
C
gcc -shared -fPIC -O2 -Wl,-soname,libpcaudio.so.0 -o "$T/lib/libpcaudio.so.0" "$T/pcaudio.c"
rm "$T/pcaudio.c"
ED="$LIB/espeak-ng-data"
for f in "$ED"/*; do
  case "$(basename "$f")" in *_dict) ;; *) cp -r "$f" "$T/espeak-ng-data/" ;; esac
done
cp "$ED/en_dict" "$T/espeak-ng-data/"
TRAIN_DBS=" $(python3 -c "from trainer.data.voices import MBROLA_VOICES as V; print(' '.join(db for _, s, db in V if s == 'train'))") "
for v in ${MBROLA:-us1 en1}; do
  case "$TRAIN_DBS" in *" $v "*) ;; *) echo "mbrola $v is not a training voice (trainer/data/voices.py): not bundled" >&2; exit 1 ;; esac
  [ -f "/usr/share/mbrola/$v/$v" ] || { echo "no mbrola voice $v (apt-get install mbrola-$v)" >&2; exit 1; }
  cp "/usr/share/mbrola/$v/$v" "$T/espeak-ng-data/mbrola/$v"
done
WN=$(python3 -c "from trainer.data.sentences import find_wordnet_dir as f; print(f() or '')")
[ -n "$WN" ] || { echo "no WordNet (apt-get install wordnet-base)" >&2; exit 1; }
for pos in noun verb adj adv; do  # keep what trainer/data/sentences.py reads: '... | gloss'
  grep -v '^  ' "$WN/data.$pos" | sed -n 's/^[^|]*| /x | /p' > "$T/wordnet/data.$pos"
done
cp "$WN/cntlist.rev" "$T/wordnet/"
cat > "$T/env.sh" <<'SH'
# source me: puts the bundled voices first (this file's directory is the bundle)
_D=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$_D/bin:$PATH" LD_LIBRARY_PATH="$_D/lib:${LD_LIBRARY_PATH:-}"
export ESPEAK_DATA_PATH="$_D" WNSEARCHDIR="$_D/wordnet"
SH
mkdir -p "$(dirname "$OUT")"
tar -cJf "$OUT.tmp" -C "$T" . && mv "$OUT.tmp" "$OUT"
ls -la "$OUT"
