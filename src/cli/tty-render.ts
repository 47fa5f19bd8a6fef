// Imported first by the interactive commands (`msgr chat`, `msgr top`), before anything loads ink.
// ink decides once, when it is loaded, whether it runs "in CI" (a CI or CONTINUOUS_INTEGRATION variable) and
// then draws nothing until the app exits. A person at a terminal whose shell happens to export CI (a CI
// runner's interactive shell, a tmux started from one) would see a blank screen; on a real terminal these
// commands draw as usual, so the variables are dropped from this process when stdin and stdout are TTYs.
if (process.stdin.isTTY && process.stdout.isTTY) {
  delete process.env.CI
  delete process.env.CONTINUOUS_INTEGRATION
}

export {}
