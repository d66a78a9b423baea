import { existsSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Test } from 'tap'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Tests in Chromium skip, with the reason, where Debian's chromium is not installed (.ci/run installs it). */
export const skipWithoutChromium = existsSync(CHROMIUM) ? false : `chromium is not installed at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`
/** Screenshots go with the test artefacts; tests print the path so a person can look at them. */
export const ARTEFACTS = resolve(process.env.TEST_ARTEFACTS ?? '.tap/artefacts')

/** Debian's chromium, never a downloaded one; no background networking on this closed network. */
export async function browser (t: Test): Promise<Browser> {
  const b = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => b.close())
  return b
}

/**
 * For docs/ (only with UPDATE_DOCS_SCREENSHOTS=1): the page zoomed out into a small viewport, with fewer
 * shades per channel, so the PNG stays a few tens of kB and its anti-aliased text still reads well.
 */
export async function docsShot (page: Page, name: string, view: { zoom: number, width: number, height: number, settleMs?: number }): Promise<void> {
  if (process.env.UPDATE_DOCS_SCREENSHOTS !== '1') return
  await page.evaluate((zoom: number) => { (globalThis as any).document.body.style.zoom = String(zoom) }, view.zoom)
  await page.setViewportSize({ width: view.width, height: view.height })
  if (view.settleMs !== undefined) await page.waitForTimeout(view.settleMs)
  const shot = await page.screenshot()
  const small = await page.evaluate(async (b64: string) => {
    const g = globalThis as any
    const img = new g.Image()
    img.src = 'data:image/png;base64,' + b64
    await img.decode()
    const canvas = g.document.createElement('canvas')
    canvas.width = img.width
    canvas.height = img.height
    const ctx = canvas.getContext('2d')
    ctx.drawImage(img, 0, 0)
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height)
    for (let i = 0; i < data.data.length; i++) if (i % 4 !== 3) data.data[i] = data.data[i] > 215 ? 255 : Math.round(data.data[i] / 51) * 51
    ctx.putImageData(data, 0, 0)
    return canvas.toDataURL('image/png').split(',')[1] as string
  }, shot.toString('base64'))
  writeFileSync(resolve('docs', name), Buffer.from(small, 'base64'))
}
