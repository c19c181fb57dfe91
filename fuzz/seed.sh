#!/bin/sh
# Seeds the fuzz corpora from the test data (tests/data). The corpora are
# not committed; run this once before `cargo fuzz run`, from anywhere.
# Usage: fuzz/seed.sh [TARGET...]   (default: every target)
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
data="$fuzz/../tests/data"
targets=${*:-cert_import key_import incoming outgoing_parse cms_shapes}

seed() { # target file...
    dir="$fuzz/corpus/$1"
    shift
    mkdir -p "$dir"
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$dir/$(basename "$f")"
    done
}

for t in $targets; do
    case $t in
    cert_import)
        seed "$t" "$data"/pki/*.pem "$data"/pki/*.der "$data"/pki/*.p7b "$data"/pki/*.p12 \
            "$data"/thunderbird/*.p12 "$data"/thunderbird/TestCA.pem ;;
    key_import)
        seed "$t" "$data"/pki/*key* "$data"/pki/*.p12 "$data"/pki/alice.bundle.pem \
            "$data"/thunderbird/*.p12 ;;
    incoming)
        # Messages, and the bare CMS/MIME pieces they are made of.
        seed "$t" "$data"/thunderbird/*.eml "$data"/thunderbird/alice.mime* \
            "$data"/thunderbird/alice.textplain* "$data"/thunderbird/*.env \
            "$data"/thunderbird/*.opaque "$data"/thunderbird/*.multipart ;;
    outgoing_parse)
        seed "$t" "$data"/thunderbird/alice.mime "$data"/thunderbird/alice.textplain \
            "$data"/thunderbird/*.eml
        # What the composer sends: bare text, 8-bit text, a multipart with
        # a binary attachment, LF line ends, a long line.
        dir="$fuzz/corpus/$t"
        printf 'From: a@example.org\nTo: b@example.org\nSubject: x\n\nhello \nFrom here\n.\n' >"$dir/bare-lf"
        printf 'From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\303\274\303\237e\r\n' >"$dir/8bit"
        printf 'From: a@example.org\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npre\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--YY--\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\000\001\377\r\n--XX--\r\n' >"$dir/mixed"
        { printf 'From: a@example.org\n\n'; head -c 1500 /dev/zero | tr '\0' 'x'; printf '\n'; } >"$dir/long-line" ;;
    cms_shapes)
        # Inputs are shapes, not messages (see fuzz_targets/cms_shapes.rs):
        # seed (0 detached, 1 opaque, 2 enveloped, 3 auth-enveloped), field,
        # count mode, count (2 bytes, little-endian), element source, element
        # index, flags (1 indefinite length, 2 inside another layer, 4 cut,
        # 8 one byte changed), cut (3 bytes), change (3 bytes, then the value).
        # For each seed and field: the bound, one over it (mode 1, values 3
        # and 4), 40,000 small elements in BER (mode 3), and 600 of the
        # seed's own elements inside another layer (mode 2).
        dir="$fuzz/corpus/$t"
        mkdir -p "$dir"
        bytes() { # file byte...
            f=$1
            shift
            printf "$(printf '\\%03o' "$@")" >"$f"
        }
        for seed in 0 1 2 3; do
            case $seed in 0|1) fields="0 1 2 3 4 5" ;; *) fields="0 1 2 3" ;; esac
            for field in $fields; do
                bytes "$dir/s$seed-f$field-bound" $seed $field 1 3 0 0
                bytes "$dir/s$seed-f$field-over" $seed $field 1 4 0 0
                bytes "$dir/s$seed-f$field-40000-ber" $seed $field 3 0 0 3 0 1
                bytes "$dir/s$seed-f$field-600-wrapped" $seed $field 2 88 2 0 0 2
            done
            # Cut in the middle, one byte changed, an element from the input.
            bytes "$dir/s$seed-cut" $seed 0 1 4 0 0 0 4 0 8 0
            bytes "$dir/s$seed-changed" $seed 0 1 4 0 0 0 8 0 0 0 64 0 0 255
            bytes "$dir/s$seed-input" $seed 1 0 20 0 4 0 0 0 0 0 0 0 0 0 48 2 1 1
        done ;;
    *)
        echo "unknown target: $t" >&2
        exit 2 ;;
    esac
    echo "$t: $(ls "$fuzz/corpus/$t" | wc -l) seeds"
done
