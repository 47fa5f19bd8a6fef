import {render, useApp, useStdout} from 'ink'
import {useEffect, useState} from 'react'

import type {ChatSessionApi} from '../session.js'
import {ChatApp} from './app.js'

// The live `msgr chat` screen on the alternate screen, until /quit or Ctrl-C.

const ALT_SCREEN_ON = '\u001B[?1049h'
const ALT_SCREEN_OFF = '\u001B[?1049l'

export async function runChatScreen(session: ChatSessionApi, io: {stdout?: NodeJS.WriteStream; stdin?: NodeJS.ReadStream} = {}): Promise<void> {
  const stdout = io.stdout ?? process.stdout
  stdout.write(ALT_SCREEN_ON)
  const leave = () => stdout.write(ALT_SCREEN_OFF)
  process.once('exit', leave)
  const app = render(<Screen session={session} />, {stdout, stdin: io.stdin ?? process.stdin, exitOnCtrlC: false})
  try {
    await app.waitUntilExit()
  } finally {
    process.off('exit', leave)
    leave()
  }
}

function Screen({session}: {session: ChatSessionApi}) {
  const {exit} = useApp()
  const {stdout} = useStdout()
  const [size, setSize] = useState({rows: stdout.rows || 24, columns: stdout.columns || 80})
  useEffect(() => {
    const onResize = () => setSize({rows: stdout.rows || 24, columns: stdout.columns || 80})
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  // Stay a line short of the screen: Ink redraws the whole terminal once its output fills it.
  return <ChatApp session={session} rows={size.rows - 1} columns={size.columns} onQuit={() => exit()} />
}
