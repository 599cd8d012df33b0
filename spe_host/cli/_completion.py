"""Shell completion: ``spe-host completion bash|zsh|fish`` prints a script to source.

Theory of operation
-------------------
The script is written from the parser itself (:func:`command_spec`), so it completes
exactly the verbs and flags the command has: the verbs first, then a verb's flags
after ``-``, the values of the flags that take known values (``--state``'s choices,
``--connect``'s host names, ``--session``'s ids, file names), and each verb's
positional (session ids for most, host names for ``attach``, shells for
``completion``).

Host names and session ids change, so the script asks for them when Tab is pressed,
through a verb left out of the help, ``spe-host _complete hosts|sessions``
(:func:`complete_names`): host names from the runtime directory, the live session
ids with one ``ls`` of the host named by the ``--connect`` on the line being
completed. It prints nothing, quickly (a one-second connect deadline), and exits 0
when there is nothing to say, so a Tab never prints an error into the command line.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .._errors import SpeError
from ..auth import runtime_dir
from ._args import SHELLS
from ._exits import EXIT_OK
from ._output import PROG

__all__ = ["SHELLS", "CommandSpec", "command_spec", "complete_names", "completion", "script"]

# What a flag's value, or a verb's positional, is completed with.
_SESSIONS, _HOSTS, _FILES = "sessions", "hosts", "files"
_VALUE_KINDS = {
    "--connect": _HOSTS,
    "--session": _SESSIONS,
    "--cafile": _FILES,
    "--tls-cert": _FILES,
    "--tls-key": _FILES,
}
_POSITIONAL_KINDS = {"attach": _HOSTS, "serve": "", "completion": " ".join(SHELLS)}


@dataclass
class CommandSpec:
    """What the completion scripts complete, read from the parser.

    Attributes:
        verbs: The verbs, in the order of the help.
        flags: Each verb's flags (every option string).
        values: What each flag that takes a value completes with: ``sessions``,
            ``hosts``, ``files``, a space-separated list of choices, or ``""``.
        positionals: What each verb's positional completes with (same forms).
    """

    verbs: list[str] = field(default_factory=list)
    flags: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    positionals: dict[str, str] = field(default_factory=dict)


def command_spec(parser: argparse.ArgumentParser) -> CommandSpec:
    """Read the verbs, their flags and what their values are from ``parser``."""
    spec = CommandSpec()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    shown = {choice.dest for choice in verbs._choices_actions}
    for verb, sub in verbs.choices.items():
        if verb not in shown:
            continue  # a hidden verb, such as _complete
        spec.verbs.append(verb)
        spec.flags[verb] = [s for a in sub._actions for s in a.option_strings]
        for action in sub._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            kind = " ".join(map(str, action.choices)) if action.choices else ""
            named = next(
                (_VALUE_KINDS[o] for o in action.option_strings if o in _VALUE_KINDS), kind
            )
            for option in action.option_strings:
                spec.values[option] = named
        spec.positionals[verb] = _POSITIONAL_KINDS.get(verb, _SESSIONS)
    return spec


async def completion(args: argparse.Namespace) -> int:
    """``spe-host completion SHELL``: print the completion script for SHELL."""
    # Imported here: the parser imports this module for its handlers.
    from ._parser import build_parser

    print(script(args.shell, command_spec(build_parser())), end="")
    return EXIT_OK


async def complete_names(args: argparse.Namespace) -> int:
    """``spe-host _complete hosts|sessions``: the names a Tab offers, one a line."""
    if args.what == _HOSTS:
        names: Iterable[str] = _host_names()
    else:
        # Imported here: completing host names needs no client.
        from ._verbs import connected

        try:
            async with connected(args) as client:
                names = [info.id for info in await client.sessions()]
        except (SpeError, OSError):
            names = []  # no host, no ids: a Tab shows nothing
    for name in names:
        print(name)
    return EXIT_OK


def _host_names() -> list[str]:
    try:
        entries = list(runtime_dir(create=False).iterdir())
    except (SpeError, OSError):
        return []
    names = set()
    for entry in entries:
        for suffix in (".operator.json", ".json", ".sock"):
            if entry.name.endswith(suffix):
                names.add(entry.name.removesuffix(suffix))
                break
    return sorted(names)


def script(shell: str, spec: CommandSpec) -> str:
    """The completion script for ``shell`` (one of :data:`SHELLS`)."""
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](spec)


def _case(arms: Mapping[str, str], indent: str) -> str:
    """The arms of a bash/zsh ``case``: ``pattern) body;;`` per item."""
    return "".join(f"{indent}{pattern}) {body};;\n" for pattern, body in arms.items())


def _candidates(kind: str, shell: str) -> str:
    """A bash/zsh snippet that sets ``candidates`` to what ``kind`` completes with."""
    if kind in (_SESSIONS, _HOSTS):
        asked = f'{PROG} _complete {kind} --connect-timeout 1 ${{connect:+--connect "$connect"}}'
        asked += " 2>/dev/null"
        return f"candidates=$({asked})"
    if kind == _FILES:
        # bash falls back to file names (complete -o default); zsh has _files.
        return 'candidates=""' if shell == "bash" else "_files; return"
    return f"candidates={shlex.quote(kind)}"


def _shell_script(spec: CommandSpec, shell: str) -> str:
    """The body both bash and zsh run: find the verb, then complete the word."""
    values = {
        "|".join(flags): _candidates(kind, shell) for kind, flags in _group(spec.values).items()
    }
    flags = {verb: f"candidates={shlex.quote(' '.join(f))}" for verb, f in spec.flags.items()}
    positionals = {
        "|".join(verbs): _candidates(kind, shell)
        for kind, verbs in _group(spec.positionals).items()
        if kind
    }
    # bash counts the command as word 0, zsh as word 1.
    first = 1 if shell == "bash" else 2
    cword = "COMP_CWORD" if shell == "bash" else "CURRENT"
    word = "COMP_WORDS" if shell == "bash" else "words"
    return f"""    local cur="${{{word}[{cword}]}}" prev="${{{word}[{cword}-1]}}"
    local verb="" connect="" candidates="" i
    for ((i = {first}; i < {cword}; i++)); do
        [[ ${{{word}[i]}} == --connect ]] && connect="${{{word}[i+1]}}"
        [[ -z $verb && ${{{word}[i]}} != -* ]] && verb="${{{word}[i]}}"
    done
    if [[ -z $verb ]]; then
        candidates={shlex.quote(" ".join(spec.verbs))}
    else
        case $prev in
{_case(values, "            ")}            *)
                if [[ $cur == -* ]]; then
                    case $verb in
{_case(flags, "                        ")}                    esac
                else
                    case $verb in
{_case(positionals, "                        ")}                    esac
                fi;;
        esac
    fi
"""


def _bash(spec: CommandSpec) -> str:
    return f"""# bash completion for {PROG}: source <({PROG} completion bash)
_spe_host() {{
{_shell_script(spec, "bash")}    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}}
complete -o default -F _spe_host {PROG}
"""


def _zsh(spec: CommandSpec) -> str:
    return f"""#compdef {PROG}
# zsh completion for {PROG}: source <({PROG} completion zsh)
_spe_host() {{
{_shell_script(spec, "zsh")}    compadd -- ${{=candidates}}
}}
compdef _spe_host {PROG}
"""


def _fish(spec: CommandSpec) -> str:
    lines = [
        f"# fish completion for {PROG}: {PROG} completion fish | source",
        "function __spe_host_verb",
        "    for token in (commandline -opc)[2..-1]",
        "        string match -q -- '-*' $token; or begin; echo $token; return 0; end",
        "    end",
        "    return 1",
        "end",
        "function __spe_host_names",
        "    set -l tokens (commandline -opc)",
        "    set -l at (contains -i -- --connect $tokens)",
        f"    set -l ask {PROG} _complete $argv[1] --connect-timeout 1",
        '    if test -n "$at"; set -a ask --connect $tokens[(math $at + 1)]; end',
        "    $ask 2>/dev/null",
        "end",
        f"complete -c {PROG} -f",
        f"complete -c {PROG} -n 'not __spe_host_verb >/dev/null' -a "
        + shlex.quote(" ".join(spec.verbs)),
    ]
    for verb in spec.verbs:
        when = f"-n 'test (__spe_host_verb) = {verb}'"
        for flag in spec.flags[verb]:
            name = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            kind = spec.values.get(flag)
            lines.append(f"complete -c {PROG} {when} {name}{_fish_values(kind)}")
        kind = spec.positionals[verb]
        if kind:
            # A positional's values: the same list, without -r (no option to follow).
            lines.append(f"complete -c {PROG} {when}{_fish_values(kind).replace(' -r', '')}")
    return "\n".join(lines) + "\n"


def _fish_values(kind: str | None) -> str:
    if kind is None:
        return ""
    if kind in (_SESSIONS, _HOSTS):
        return f" -r -a '(__spe_host_names {kind})'"
    if kind == _FILES:
        return " -r -F"
    return f" -r -a {shlex.quote(kind)}" if kind else " -r"


def _group(kinds: Mapping[str, str]) -> dict[str, list[str]]:
    """The flags (or verbs) by what their value (or positional) completes with."""
    groups: dict[str, list[str]] = {}
    for name, kind in kinds.items():
        groups.setdefault(kind, []).append(name)
    return groups
