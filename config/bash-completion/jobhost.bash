# bash completion for jobhost(8): its commands and options, `jobhost ctl`'s,
# and job ids, asked of the running daemon (`jobhost ctl list -q`, with the
# --url, -c and --token-file given so far on the line).
#
# Installed as $(PREFIX)/share/bash-completion/completions/jobhost, where
# bash-completion finds it on first use.

_jobhost_plugin_dir=@PLUGDIR@

# The options of the line that tell ctl where the daemon is.
_jobhost_where()
{
    local i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        --url | -c | --config | --token-file)
            [[ -n ${words[i + 1]-} ]] && printf '%s\n%s\n' "${words[i]}" "${words[i + 1]}"
            ;;
        --url=* | --config=* | --token-file=*)
            printf '%s\n' "${words[i]}"
            ;;
        esac
    done
}

_jobhost_jobs()
{
    local -a where
    mapfile -t where < <(_jobhost_where)
    jobhost ctl "${where[@]}" list -q 2>/dev/null
}

_jobhost_ctl()
{
    local cmd= i
    local commands="status list show run pause resume history logs reload"
    for ((i = 2; i < cword; i++)); do
        case ${words[i]} in
        --url | -c | --config | --token-file | --limit | --timeout) ((i++)) ;;
        -*) ;;
        *)
            cmd=${words[i]}
            break
            ;;
        esac
    done
    case $prev in
    -c | --config | --token-file)
        _filedir
        return
        ;;
    --url)
        COMPREPLY=($(compgen -W "http://127.0.0.1:9464" -- "$cur"))
        return
        ;;
    --limit | --timeout)
        return
        ;;
    esac
    if [[ $cur == -* ]]; then
        local opts="--url --config --token-file --json --help"
        case $cmd in
        run) opts="$opts --wait --dry-run --timeout" ;;
        history) opts="$opts --limit" ;;
        logs) opts="$opts --follow" ;;
        list) opts="$opts --quiet" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        return
    fi
    case $cmd in
    show | run | pause | resume | history)
        # the job id: the word after the command
        [[ ${words[cword - 1]} == "$cmd" ]] &&
            COMPREPLY=($(compgen -W "$(_jobhost_jobs)" -- "$cur"))
        ;;
    esac
}

_jobhost()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    if [[ ${words[1]-} == ctl && $cword -ge 2 ]]; then
        _jobhost_ctl
        return
    fi
    local cmd= i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
        -c | --config | --listen | --count | --from | --timezone | --limit | --before) ((i++)) ;;
        -*) ;;
        *)
            cmd=${words[i]}
            break
            ;;
        esac
    done
    case $prev in
    -c | --config)
        if declare -F _filedir >/dev/null; then _filedir '@(yaml|yml)'; else COMPREPLY=($(compgen -f -- "$cur")); fi
        return
        ;;
    --listen)
        COMPREPLY=($(compgen -W "127.0.0.1:9464 [::1]:9464 :9464" -- "$cur"))
        return
        ;;
    --count | --from | --limit | --before)
        return
        ;;
    --timezone)
        COMPREPLY=($(cd /usr/share/zoneinfo 2>/dev/null && compgen -f -- "$cur"))
        return
        ;;
    esac
    if [[ $cur == -* ]]; then
        local opts="--config --help --version"
        case $cmd in
        '') opts="$opts --dry-run --log-stderr --listen" ;;
        run-once) opts="$opts --dry-run" ;;
        describe) opts="$opts --json" ;;
        history) opts="$opts --limit --before --json --dry-run" ;;
        next) opts="--count --from --timezone --help" ;;
        esac
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case $cmd in
    '')
        COMPREPLY=($(compgen -W "check run-once describe next history ctl" -- "$cur"))
        ;;
    run-once)
        [[ ${words[cword - 1]} == run-once ]] &&
            COMPREPLY=($(compgen -W "$(_jobhost_jobs)" -- "$cur"))
        ;;
    history)
        [[ ${words[cword - 1]} == history ]] &&
            COMPREPLY=($(compgen -W "prune $(_jobhost_jobs)" -- "$cur"))
        ;;
    describe)
        if [[ ${words[cword - 1]} == describe ]]; then
            local so names=
            for so in "$_jobhost_plugin_dir"/*.so; do
                [[ -e $so ]] || continue
                so=${so##*/}
                names="$names ${so%.so}"
            done
            COMPREPLY=($(compgen -W "$names" -- "$cur"))
        fi
        ;;
    esac
}

complete -F _jobhost jobhost
