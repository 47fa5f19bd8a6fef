import * as pulumi from '@pulumi/pulumi'

import {readInfraConfig} from './src/config.js'
import {deploy} from './src/deploy.js'

// `pulumi up` entry: stack config (Pulumi.<stack>.yaml, secrets via `pulumi config set --secret`) → deploy().

const config = readInfraConfig(new pulumi.Config('msgr'), pulumi.getStack())
const deployed = deploy(config)

export const publicUrl = deployed.publicUrl
export const webSocketUrl = deployed.publicUrl.apply((url) => `${url.replace(/^http/, 'ws')}/v1/ws`)
export const controlPlaneUrl = deployed.controlPlaneUrl
export const namespace = deployed.namespace
export const workers = deployed.workerReplicas
