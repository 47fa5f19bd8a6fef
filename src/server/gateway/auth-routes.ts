import {z} from 'zod'

import type {AuthService} from '../../core/auth/auth-service.js'
import {MsgrError} from '../../errors.js'
import {HttpResult, readJson, type Route} from '../http.js'

// protocol-v1 HTTP auth: phone OTP, token refresh, and the development OTP peek.

const phone = z.string().min(1).max(32)
const startBody = z.object({phone})
const verifyBody = z.object({
  phone,
  code: z.string().min(1).max(16),
  device: z.object({name: z.string().min(1).max(64), platform: z.string().min(1).max(32)}),
})
const refreshBody = z.object({refreshToken: z.string().min(1).max(256)})

export function authRoutes(auth: AuthService, options: {devOtp: boolean}): Route[] {
  const routes: Route[] = [
    {
      method: 'POST',
      path: '/v1/auth/otp/start',
      async handler({req}) {
        const body = await readJson(req, startBody)
        await auth.startOtp(body.phone)
        return new HttpResult(202, {status: 'sent'})
      },
    },
    {
      method: 'POST',
      path: '/v1/auth/otp/verify',
      async handler({req}) {
        const body = await readJson(req, verifyBody)
        return auth.verifyOtp(body.phone, body.code, body.device)
      },
    },
    {
      method: 'POST',
      path: '/v1/auth/refresh',
      async handler({req}) {
        const body = await readJson(req, refreshBody)
        return auth.refresh(body.refreshToken)
      },
    },
  ]
  if (options.devOtp) {
    routes.push({
      method: 'GET',
      path: '/v1/dev/otp',
      async handler({url}) {
        const number = url.searchParams.get('phone')
        if (!number) throw new MsgrError('invalid_request', 'pass ?phone=')
        const code = await auth.devOtp(number)
        if (!code) throw new MsgrError('not_found', 'no code was sent to this phone')
        return {phone: number, code}
      },
    })
  }
  return routes
}
