import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {MEDIA_DEFAULTS, MEDIA_MAX_BYTES_CEILING, type MediaConfigInput} from '../server/media/config.js'

// Flags of the roles that serve media (gateway, all); each has an MSGR_* environment equivalent.

export const mediaFlags = {
  'media-dir': Flags.string({description: 'Directory for uploaded media (serve all: <data-dir>/media); shared by every gateway', env: 'MSGR_MEDIA_DIR'}),
  'media-max-bytes': Flags.integer({
    description: 'Largest accepted upload in bytes',
    env: 'MSGR_MEDIA_MAX_BYTES',
    default: MEDIA_DEFAULTS.maxBytes,
    min: 1,
    max: MEDIA_MAX_BYTES_CEILING,
  }),
  's3-bucket': Flags.string({description: 'Store media in this S3 bucket instead of a directory', env: 'MSGR_S3_BUCKET'}),
  's3-endpoint': Flags.string({description: 'S3-compatible endpoint, e.g. http://minio:9000 (unset: AWS)', env: 'MSGR_S3_ENDPOINT'}),
  's3-region': Flags.string({description: 'S3 region', env: 'MSGR_S3_REGION', default: MEDIA_DEFAULTS.s3Region}),
  's3-access-key': Flags.string({description: 'S3 access key id (unset: the AWS default credential chain)', env: 'MSGR_S3_ACCESS_KEY'}),
  's3-secret-key': Flags.string({description: 'S3 secret access key', env: 'MSGR_S3_SECRET_KEY'}),
}

export interface MediaFlagValues {
  'media-dir'?: string
  'media-max-bytes'?: number
  's3-bucket'?: string
  's3-endpoint'?: string
  's3-region'?: string
  's3-access-key'?: string
  's3-secret-key'?: string
}

/** The node's media settings from flags; the single node keeps media in <data-dir>/media unless told otherwise. */
export function mediaConfigFromFlags(flags: MediaFlagValues, dataDir: string | undefined): MediaConfigInput {
  const s3Wanted = Boolean(flags['s3-bucket'] || flags['s3-endpoint'] || flags['s3-access-key'] || flags['s3-secret-key'])
  const s3 = s3Wanted
    ? {
        bucket: flags['s3-bucket']!,
        region: flags['s3-region'],
        endpoint: flags['s3-endpoint'],
        accessKeyId: flags['s3-access-key'],
        secretAccessKey: flags['s3-secret-key'],
      }
    : undefined
  const dir = flags['media-dir'] ?? (s3 || !dataDir ? undefined : join(dataDir, 'media'))
  return {maxBytes: flags['media-max-bytes'], dir, s3}
}
