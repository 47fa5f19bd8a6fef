import {z} from 'zod'

// Media settings of a gateway: size limit and where the bytes go (a directory, or an S3 bucket).

export const MEDIA_DEFAULTS = {
  maxBytes: 25 * 1024 * 1024,
  s3Region: 'us-east-1',
} as const

/** S3's limit for one PUT: the upload path sends each object in one request. */
export const MEDIA_MAX_BYTES_CEILING = 5 * 1024 ** 3

const s3Schema = z
  .object({
    bucket: z.string({error: 'S3 media storage needs a bucket: set --s3-bucket (MSGR_S3_BUCKET)'}).min(1),
    region: z.string().min(1).default(MEDIA_DEFAULTS.s3Region),
    endpoint: z.url('--s3-endpoint: a URL such as http://minio:9000').optional(),
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    forcePathStyle: z.boolean().optional(),
  })
  .refine((s) => Boolean(s.accessKeyId) === Boolean(s.secretAccessKey), 'set both --s3-access-key and --s3-secret-key, or neither')

export const mediaConfigSchema = z
  .object({
    maxBytes: z.number().int().min(1).max(MEDIA_MAX_BYTES_CEILING, 'media max bytes: at most 5 GiB (one S3 PUT)').default(MEDIA_DEFAULTS.maxBytes),
    /** Local (or shared) directory for media; every gateway of a cluster must see the same one. */
    dir: z.string().min(1).optional(),
    s3: s3Schema.optional(),
    /** Where uploads are staged while they are checked (default: the OS temp directory). */
    spoolDir: z.string().min(1).optional(),
  })
  .refine((m) => !(m.dir && m.s3), 'media goes to one place: set --media-dir or --s3-bucket, not both')

export type MediaConfig = z.output<typeof mediaConfigSchema>
export type MediaConfigInput = z.input<typeof mediaConfigSchema>
