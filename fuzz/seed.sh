#!/bin/sh
# Seeds the fuzz corpora from the test data (tests/data). The corpora are
# not committed; run this once before `cargo fuzz run`, from anywhere.
# Usage: fuzz/seed.sh [TARGET...]   (default: every target)
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
data="$fuzz/../tests/data"
targets=${*:-cert_import key_import incoming outgoing_parse}

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
    *)
        echo "unknown target: $t" >&2
        exit 2 ;;
    esac
    echo "$t: $(ls "$fuzz/corpus/$t" | wc -l) seeds"
done
