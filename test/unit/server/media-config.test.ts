import {describe, expect, it} from 'vitest'

import {mediaConfigFromFlags} from '../../../src/cli/media-flags.js'
import {parseNodeConfig} from '../../../src/server/config.js'

const base = {nodeId: 'gw-1', roles: ['gateway' as const], jwtSecret: 'x'.repeat(32)}

describe('media configuration', () => {
  it('defaults to 25 MiB and no storage; serve all keeps media in <data-dir>/media', () => {
    expect(parseNodeConfig(base).media).toEqual({maxBytes: 25 * 1024 * 1024})
    expect(mediaConfigFromFlags({}, '/var/lib/msgr')).toMatchObject({dir: '/var/lib/msgr/media'})
    expect(mediaConfigFromFlags({'media-dir': '/mnt/media'}, '/var/lib/msgr')).toMatchObject({dir: '/mnt/media'})
    expect(mediaConfigFromFlags({}, undefined)).toMatchObject({dir: undefined, s3: undefined})
  })

  it('takes S3 settings instead of the default directory', () => {
    const media = parseNodeConfig({
      ...base,
      media: mediaConfigFromFlags({'s3-bucket': 'media', 's3-endpoint': 'http://minio:9000', 's3-access-key': 'k', 's3-secret-key': 's'}, '/var/lib/msgr'),
    }).media
    expect(media.dir).toBeUndefined()
    expect(media.s3).toMatchObject({bucket: 'media', endpoint: 'http://minio:9000', region: 'us-east-1', accessKeyId: 'k', secretAccessKey: 's'})
  })

  it.each([
    ['an endpoint without a bucket', {'s3-endpoint': 'http://minio:9000'}, /--s3-bucket/],
    ['half a key pair', {'s3-bucket': 'b', 's3-access-key': 'k'}, /--s3-secret-key/],
    ['a directory and a bucket', {'s3-bucket': 'b', 'media-dir': '/m'}, /not both/],
    ['a bad endpoint', {'s3-bucket': 'b', 's3-endpoint': 'minio'}, /--s3-endpoint/],
  ])('refuses %s with a message that names the fix', (_name, flags, message) => {
    expect(() => parseNodeConfig({...base, media: mediaConfigFromFlags(flags, undefined)})).toThrow(message)
  })
})
