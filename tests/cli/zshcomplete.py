"""What a real zsh offers on <TAB>, with the script `dstream completion zsh` printed
loaded as zsh loads it (an `_dstream` in $fpath, found by compinit): an interactive zsh
in a zpty (zsh's own pseudo-terminal module), its `compadd` wrapped to print each match.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# The inner shell's setup, sourced before the line is typed: the matches between \x02
# and \x03, one a line; the shell exits after one completion.
_INIT = r"""
autoload -U compinit; compinit -u -D
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
_dstream_test_before() { print -rn -- $'\x02' }
_dstream_test_after() { print -rn -- $'\x03'; exit }
compprefuncs=( _dstream_test_before ); comppostfuncs=( _dstream_test_after )
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  local -a hits; builtin compadd -A hits "$@"; (( $#hits )) || return 1
  print -rn -- "${(pj:\n:)hits}"$'\n'
}
bindkey '^I' complete-word
"""

# Run as `zsh driver DIR LINE`: types LINE and a tab into an interactive zsh whose
# $fpath starts with DIR (and whose module_path is this one's: the inner shell is
# started with no -f, so that its ZDOTDIR's .zshenv, if any, sets up an unusual zsh).
_DRIVER = r"""
zmodload zsh/zpty || exit 3
zpty shell zsh -i
zpty -w shell "module_path=(${module_path}); fpath=($1 ${fpath}); PROMPT=''; RPROMPT=''"
zpty -w shell "source $1/init.zsh"
zpty -w -n shell "$2"$'\t'
zpty -r shell out $'*\x03*'
zpty -d shell
out=${out##*$'\x02'}; out=${out%%$'\x03'*}
print -rn -- "${out//$'\r'/}"
"""


def zsh_complete(root: Path, script: str, line: str) -> list[str]:
    """The matches zsh offers for `line` (the last word is being typed), with the
    completion `script` installed under `root` (a fresh ZDOTDIR there too: no user's
    setup is read)."""
    functions = root / "zsh-functions"
    functions.mkdir(exist_ok=True)
    (functions / "_dstream").write_text(script)
    (functions / "init.zsh").write_text(_INIT)
    (root / "driver.zsh").write_text(_DRIVER)
    home = root / "zdot"
    home.mkdir(exist_ok=True)
    done = subprocess.run(
        ["zsh", str(root / "driver.zsh"), str(functions), line],
        env={**os.environ, "ZDOTDIR": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()
