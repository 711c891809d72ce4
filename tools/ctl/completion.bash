# bash completion for tidegatectl. The candidates come from tidegatectl itself
# (`tidegatectl __complete WORD...`), from the same command table as its help,
# so this file never lists a command. Installed by the .deb in
# /usr/share/bash-completion/completions/tidegatectl.
_tidegatectl() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --token-file|--password-file|--ca-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --admin|--mqtt|--timeout|--prefix|--filter-prefix|--limit|--offset|--qos|--count|--wait|--username)
            COMPREPLY=()
            return ;;
    esac
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -F _tidegatectl tidegatectl
