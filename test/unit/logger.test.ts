import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import axios from 'axios';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AmoUnavailableError, networkError } from '../../src/amocrm/api/errors.js';
import { createLogger, REDACT_PATHS, scrubUrl } from '../../src/lib/logger.js';

describe('logs never carry secrets', () => {
  it('when a webhook URL is logged, then its token is scrubbed', () => {
    expect(scrubUrl('/webhooks/amocrm/s3cr3t-token-value-1234567890')).toBe('/webhooks/amocrm/[redacted]');
    expect(scrubUrl('/oauth/callback?code=abc&state=1')).toBe('/oauth/callback?code=[redacted]&state=1');
  });

  it('when an object with tokens is logged, then they are redacted', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    log.info({ accessToken: 'AAA', tokens: { refresh_token: 'BBB' }, headers: { authorization: 'Bearer CCC' } }, 'x');
    expect(lines.join('')).not.toMatch(/AAA|BBB|CCC/);
  });
});

describe('errors are safe to log', () => {
  const SECRET = 'cs-very-secret-client-secret-0123456789';
  const REFRESH = 'rt-single-use-refresh-token-9876543210';

  const capture = () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    return { lines, logger: createLogger({ level: 'info', destination }) };
  };

  /** A real axios error from a POST whose connection drops: its config holds the body with the secrets. */
  const axiosError = async (): Promise<unknown> => {
    const server = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/access_token`;
      return await axios
        .post(
          url,
          { client_secret: SECRET, refresh_token: REFRESH },
          { headers: { Authorization: `Bearer ${REFRESH}` } },
        )
        .catch((e: unknown) => e);
    } finally {
      server.close();
    }
  };

  it('when a raw axios error is logged as err, then neither its body nor its headers reach the line', async () => {
    const err = await axiosError();
    // Positive control: the error does carry the secrets, and pino with its plain err serializer prints them.
    const plain: string[] = [];
    pino(
      { serializers: { err: pino.stdSerializers.err } },
      new Writable({ write: (c, _e, done) => void (plain.push(String(c)), done()) }),
    ).error({ err }, 'refresh failed');
    expect(plain.join('')).toContain(SECRET);
    const { lines, logger } = capture();
    logger.error({ err }, 'refresh failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ECONNRESET');
    expect(lines[0]).not.toContain(SECRET);
    expect(lines[0]).not.toContain(REFRESH);
  });

  it('when a raw axios error is logged under another name, then redaction removes its config and request', async () => {
    const error = await axiosError();
    const { lines, logger } = capture();
    logger.error({ error }, 'refresh failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(SECRET);
    expect(lines[0]).not.toContain(REFRESH);
  });

  it('when an axios error becomes an AmoError, then every own property is a plain safe value', async () => {
    const amo = networkError(await axiosError(), 'POST /oauth2/access_token');
    expect(amo).toBeInstanceOf(AmoUnavailableError);
    expect({ ...amo }).toEqual({
      name: 'AmoUnavailableError',
      status: undefined,
      endpoint: 'POST /oauth2/access_token',
      retryAfterMs: undefined,
      retryable: true,
      ourBug: false,
    });
    expect(amo.message).toBe('network error calling amoCRM POST /oauth2/access_token (ECONNRESET)');
    expect(JSON.stringify(pino.stdSerializers.err(amo))).not.toContain(SECRET);
  });
});
