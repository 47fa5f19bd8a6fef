import {render, useApp, useInput, useStdin, useStdout} from 'ink'
import {useEffect, useState} from 'react'

import {Dashboard, type DashboardProps} from './dashboard.js'
import {advance, type TopState, topView} from './model.js'
import {fetchSample, type TopClient} from './poll.js'

// The live `msgr top` screen: polls every interval and redraws until q (or Ctrl-C). A failed poll keeps
// the last data on screen with the error in the header, and polling goes on.

export interface LiveOptions {
  client: TopClient
  intervalMs: number
  /** The first poll, made before the screen opens so that a wrong --url or token fails as usual. */
  first: TopState
  url: string
  stdout?: NodeJS.WriteStream
  stdin?: NodeJS.ReadStream
}

const ALT_SCREEN_ON = '\u001B[?1049h'
const ALT_SCREEN_OFF = '\u001B[?1049l'

/** Runs until the operator quits; answers the last state seen. */
export async function runLive(options: LiveOptions): Promise<TopState> {
  const stdout = options.stdout ?? process.stdout
  let state = options.first
  let error: string | undefined
  const screen = () => <LiveDashboard view={topView(state)} url={options.url} intervalMs={options.intervalMs} error={error} />

  // Like htop: draw on the alternate screen and give the terminal back as it was.
  stdout.write(ALT_SCREEN_ON)
  const leave = () => stdout.write(ALT_SCREEN_OFF)
  process.once('exit', leave)
  const app = render(screen(), {stdout, stdin: options.stdin ?? process.stdin, exitOnCtrlC: true})

  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const poll = async () => {
    const started = Date.now()
    try {
      state = advance(state, await fetchSample(options.client))
      error = undefined
    } catch (e) {
      error = (e as Error).message
    }
    if (stopped) return
    app.rerender(screen())
    timer = setTimeout(() => void poll(), Math.max(0, options.intervalMs - (Date.now() - started)))
  }
  timer = setTimeout(() => void poll(), options.intervalMs)

  try {
    await app.waitUntilExit()
  } finally {
    stopped = true
    clearTimeout(timer)
    process.off('exit', leave)
    leave()
  }
  return state
}

function LiveDashboard(props: Omit<DashboardProps, 'height' | 'help'>) {
  const {exit} = useApp()
  const {isRawModeSupported} = useStdin()
  const {stdout} = useStdout()
  const [rows, setRows] = useState(stdout.rows)
  useEffect(() => {
    const onResize = () => setRows(stdout.rows)
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  useInput(
    (input, key) => {
      if (input === 'q' || key.escape) exit()
    },
    {isActive: isRawModeSupported},
  )
  return <Dashboard {...props} height={rows} help={isRawModeSupported ? 'q quit' : 'Ctrl-C quit'} />
}
