# bash completion for bn (installed as share/bash-completion/completions/bn).
# Commands and options are read from the program's own --help, so they
# follow it; only the choices of a few options are listed here.
_bn()
{
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local bn=${COMP_WORDS[0]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    local commands
    commands=$("$bn" --help 2>/dev/null |
               awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  local command=${COMP_WORDS[1]}
  case $prev in
    --activation) COMPREPLY=($(compgen -W "relu elu sigmoid tanh" -- "$cur")); return ;;
    --bn) COMPREPLY=($(compgen -W "before after none" -- "$cur")); return ;;
    --init | --head-init)
      COMPREPLY=($(compgen -W "he-normal he-uniform glorot-normal glorot-uniform" -- "$cur"))
      return ;;
    --head) COMPREPLY=($(compgen -W "softmax sigmoid" -- "$cur")); return ;;
    --optimizer) COMPREPLY=($(compgen -W "adam sgd momentum nesterov" -- "$cur")); return ;;
    --schedule) COMPREPLY=($(compgen -W "cosine constant" -- "$cur")); return ;;
    --data) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --train | --test | --train-labels | --test-labels) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --output | -o | --history | --plot | --resume) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    local options
    options=$("$bn" "$command" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)
    COMPREPLY=($(compgen -W "$options --help" -- "$cur"))
    return
  fi
  COMPREPLY=($(compgen -f -- "$cur")) # models, inputs, histories
}
complete -o filenames -F _bn bn
