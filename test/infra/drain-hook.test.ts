import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, describe, expect, it} from 'vitest'

import {loginWithDevOtp, MsgrClient} from '../../src/client/client.js'
import {drainCommand} from '../../infra/src/msgr-pods.js'
import {randomPhone, waitFor} from '../helpers/cluster.js'
import {type MsgrProcess, startMsgr} from '../helpers/processes.js'

// The Kubernetes preStop hook, run exactly as the kubelet would (`/bin/sh -c …` with the pod's env and
// `msgr` on PATH as in the image) against the real binary: it drains the pod's own node and returns
// only when the node has moved its clients off.

const started: MsgrProcess[] = []
const dirs: string[] = []

afterAll(async () => {
  for (const p of started) await p.kill('SIGKILL')
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}

function runHook(command: string[], env: Record<string, string>): Promise<{code: number; output: string}> {
  const proc = spawn(command[0]!, command.slice(1), {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()))
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()))
  return new Promise((resolve) => proc.once('exit', (code) => resolve({code: code ?? -1, output})))
}

describe('preStop drain hook', () => {
  it('drains the node named by MSGR_NODE_ID and waits until its clients are gone', async () => {
    const podName = 'msgr-gateway-7d9f8c-x2kq4'
    const node = await startMsgr(
      ['serve', 'all', '--dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', tempDir('msgr-hook-'), '--node-id', podName, '--presence', 'off'],
      {MSGR_LOG_FORMAT: 'json', MSGR_CANARY_INTERVAL_MS: '0'},
    )
    started.push(node)
    const user = await loginWithDevOtp(node.url, randomPhone())
    const client = await MsgrClient.connect(node.url, user.accessToken)
    await client.waitForEvent((e) => e.ev === 'hello')

    // The image puts `msgr` on PATH as a symlink to bin/run.js; do the same here.
    const binDir = join(tempDir('msgr-bin-'), 'bin')
    mkdirSync(binDir)
    symlinkSync(fileURLToPath(new URL('../../bin/run.js', import.meta.url)), join(binDir, 'msgr'))

    const hook = await runHook(drainCommand({drainDeadlineSec: 4}), {
      PATH: `${binDir}:${process.env.PATH}`,
      MSGR_NODE_ID: podName,
      MSGR_CONTROL_PLANE_URL: node.url,
    })
    expect(hook.output).toContain(podName)
    expect(hook.code, hook.output).toBe(0)
    // The hook returned only after the drain finished: the client was told and is already gone.
    const reconnect = client.events.find((e) => e.ev === 'reconnect')
    expect(reconnect).toMatchObject({ev: 'reconnect', reason: 'pod terminating'})
    await waitFor(() => client.closeCode !== undefined, 5000)
    expect(client.closeCode).toBe(1012)
    const ready = await fetch(`${node.url}/readyz`)
    expect(ready.status).toBe(503)

    // Then the kubelet's SIGTERM: a clean exit.
    expect(await node.kill('SIGTERM')).toBe(0)
  }, 90_000)
})
