package main

// `clusterd completion SHELL` prints a script that makes the shell complete
// clusterd's commands and flags. The scripts ask the binary itself (urfave/cli's
// --generate-bash-completion), so they never go stale when commands change.

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// bashCompletion completes each word by running the command line typed so
// far with --generate-bash-completion appended; a word that starts with "-"
// is passed along so that flags are listed instead of commands.
const bashCompletion = `# bash completion for clusterd; load it with: source <(clusterd completion bash)
_clusterd_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}" words
  if [[ "$cur" == -* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  return 0
}
complete -o bashdefault -o default -F _clusterd_complete clusterd
`

// zshCompletion does the same in zsh: the binary's answer, one candidate a
// line (a "name:description" line is shown with its description), or file
// names when it has none.
const zshCompletion = `#compdef clusterd
# zsh completion for clusterd; load it with: source <(clusterd completion zsh)
_clusterd() {
  local -a candidates
  local cur="${words[CURRENT]}"
  if [[ "$cur" == -* ]]; then
    candidates=("${(@f)$(${words[1,CURRENT-1]} "$cur" --generate-bash-completion 2>/dev/null)}")
  else
    candidates=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${candidates[1]}" ]]; then
    _describe 'clusterd' candidates
  else
    _files
  fi
}
if (( $+functions[compdef] )); then
  compdef _clusterd clusterd
fi
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		UsageText: "clusterd completion bash|zsh|fish\n\n" +
			"Examples:\n" +
			"   source <(clusterd completion bash)                       # this shell only\n" +
			"   clusterd completion bash > /etc/bash_completion.d/clusterd\n" +
			"   clusterd completion zsh > \"${fpath[1]}/_clusterd\"\n" +
			"   clusterd completion fish > ~/.config/fish/completions/clusterd.fish",
		Description: "The bash and zsh scripts ask the clusterd binary on PATH what comes next\n" +
			"(clusterd ... --generate-bash-completion), so they follow the binary's commands and flags.",
		Action: func(c *cli.Context) error {
			args, err := checkArgs(c, 1, 1, "clusterd completion bash|zsh|fish")
			if err != nil {
				return err
			}
			var script string
			switch args[0] {
			case "bash":
				script = bashCompletion
			case "zsh":
				script = zshCompletion
			case "fish":
				// From a fresh app: the running one has had urfave/cli's help
				// commands set up in it, which its fish generator recurses
				// into without end.
				if script, err = newApp(io.Discard, io.Discard).ToFishCompletion(); err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
			default:
				return usageErrorf("completion %q: unknown shell; give bash, zsh or fish", args[0])
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}
