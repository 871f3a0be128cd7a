"""Providers written without the SDK, shared by the test areas."""

# An output in plain sh: handshake, keep data lines in $OUT (default out.jsonl), echo
# each checkpoint once the lines before it are written. (mawk would buffer its input
# and acknowledge late, so the shell reads line by line.)
SHELL_OUTPUT = r"""#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
exec 3>>"${OUT:-out.jsonl}"
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) printf '%s\n' "$line" ;;
    *) printf '%s\n' "$line" >&3 ;;
  esac
done
"""

# An input in plain sh: handshake, then $COUNT (default 5) data envelopes tagged $TAG.
SHELL_COUNTING_INPUT = """#!/bin/sh
# A provider in the wire contract: handshake, then N data envelopes.
read -r command
echo '{"status":"ready","protocol":1}'
i=1
while [ $i -le ${COUNT:-5} ]; do
  printf '{"data":{"n":%d,"from":"%s"},"metadata":{"TableName":"t"}}\\n' $i "${TAG:-x}"
  i=$((i + 1))
done
"""
