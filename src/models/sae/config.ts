/**
 * cfg.json of a sparse autoencoder in the SAELens layout, read the way SAELens reads it
 * (sae_lens/loading/pretrained_sae_loaders.py: handle_config_defaulting / handle_pre_6_0_config;
 * sae_lens/saes/{sae,standard_sae,jumprelu_sae,topk_sae}.py):
 *
 * - Pre-6.0 configs (no `sae_lens_version` ≥ 6, e.g. gpt2-small-res-jb): `hook_point` → hook_name,
 *   `activation_fn_str` → activation_fn; defaults apply_b_dec_to_input = true, architecture
 *   "standard", activation "relu"; activation_fn "topk" with activation_fn_kwargs.k → architecture
 *   "topk"; normalize_activations true/false → "expected_average_only_in"/"none".
 * - 6.x configs: `architecture`, `k` (topk), and the model facts under `metadata` (model_name,
 *   hook_name, model_from_pretrained_kwargs); top-level copies are read too.
 *
 * Supported: architectures standard (ReLU), jumprelu (with a `threshold` tensor), topk (k);
 * normalize_activations none, expected_average_only_in (identity at inference in SAELens: the
 * dataset scale is folded into the weights), constant_norm_rescale, layer_norm. Everything else
 * is refused with a message naming the field.
 */
import { describeJsonValue, oneLine, quote } from '../../engine/safetensors';

export type SaeActivation =
  | { readonly kind: 'relu' }
  /** f = ReLU(pre) · [pre > threshold] */
  | { readonly kind: 'jumprelu' }
  /** f = ReLU of the k largest pre-activations, 0 elsewhere */
  | { readonly kind: 'topk'; readonly k: number };

/** Run-time normalisation of the SAE input (SAELens `normalize_activations`). */
export type SaeNormalization = 'none' | 'constant_norm_rescale' | 'layer_norm';

/** Hook points an SAE can read: the ones every stored trace keeps. */
export type SaeHookKind = 'resid_pre' | 'resid_post' | 'mlp_out';

export interface SaeConfig {
  readonly dIn: number;
  readonly dSae: number;
  /** TransformerLens hook name, e.g. blocks.8.hook_resid_pre. */
  readonly hookName: string;
  readonly hookLayer: number;
  readonly hookKind: SaeHookKind;
  readonly architecture: 'standard' | 'jumprelu' | 'topk';
  readonly activation: SaeActivation;
  /** sae_in = x − b_dec before the encoder (SAELens default true). */
  readonly applyBDecToInput: boolean;
  readonly normalization: SaeNormalization;
  /** The config's `normalize_activations` as written (for display). */
  readonly normalizeActivationsField: string;
  /** cfg dtype as written ("float32", "torch.float32", …); computation is float32 regardless. */
  readonly dtype: string;
  /** model_name, when the config names one. */
  readonly modelName: string | undefined;
  /**
   * The SAE was trained on TransformerLens's centred residual stream (center_writing_weights,
   * a from_pretrained default): its input is the residual minus its mean over d_model, per token.
   * From metadata.model_from_pretrained_kwargs.center_writing_weights, else true.
   */
  readonly centreInput: boolean;
  /** Where centreInput came from, said in the UI and the JSON. */
  readonly centreInputSource: 'model_from_pretrained_kwargs' | 'TransformerLens default';
  readonly neuronpediaId: string | undefined;
}

/** A problem with an SAE folder; the message is one line naming the file. */
export class SaeError extends Error {
  override readonly name = 'SaeError';
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${oneLine(file, 400)}: ${oneLine(problem, 400)}`);
  }
}

/** Largest cfg.json read (SAELens configs are 1–3 KiB). */
export const MAX_SAE_CONFIG_BYTES = 1024 * 1024;
/** Largest dictionary accepted: OpenAI's 128k GPT-2 SAEs are 131072 wide. */
export const MAX_D_SAE = 1 << 20;
/** Largest d_in accepted (GPT-2 XL is 1600 wide). */
export const MAX_D_IN = 1 << 14;
/** W_enc + W_dec in float32 must fit here (the 128k GPT-2 SAEs need 806 MB). */
export const MAX_SAE_WEIGHT_BYTES = 2 ** 31;

const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'torch.float32', 'torch.float64', 'torch.float16', 'torch.bfloat16'];
const NORMALIZATIONS = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];
const SUPPORTED_HOOK = /^blocks\.(\d{1,4})\.(hook_resid_pre|hook_resid_post|hook_mlp_out)$/;
/** TransformerLens hooks that exist but that an SAE cannot read here yet (not kept in a stored trace). */
const KNOWN_HOOK = /^(hook_embed|hook_pos_embed|ln_final\.hook_(scale|normalized)|blocks\.\d{1,4}\.(hook_resid_mid|hook_attn_out|hook_attn_in|hook_q_input|hook_k_input|hook_v_input|hook_mlp_in|attn\.hook_(q|k|v|z|result|pattern|attn_scores)|mlp\.hook_(pre|post)|ln[12]\.hook_(scale|normalized)))$/;

/** Parses and validates cfg.json's bytes; throws SaeError naming `file` and the field. */
export function parseSaeConfig(file: string, bytes: Uint8Array): SaeConfig {
  const fail = (problem: string): never => {
    throw new SaeError(file, problem);
  };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return fail(`is not valid UTF-8 JSON (${oneLine(error instanceof Error ? error.message : String(error), 120)})`);
  }
  if (!isObject(json)) return fail('is not a JSON object');
  const cfg = json;
  const metadata = cfg['metadata'] === undefined || cfg['metadata'] === null ? {} : cfg['metadata'];
  if (!isObject(metadata)) return fail(`"metadata" is ${describe(metadata)}, expected an object`);
  /** A field from the top level, else from metadata (SAELens 6 moves the model facts there). */
  const field = (name: string): unknown => (cfg[name] !== undefined ? cfg[name] : metadata[name]);

  const version = field('sae_lens_version');
  const v6 = typeof version === 'string' && /^([6-9]|\d\d+)\./.test(version);

  const int = (name: string, max: number): number => {
    const value = field(name);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) return fail(`"${name}" is ${describe(value)}, expected a positive integer`);
    if (value > max) return fail(`"${name}" ${value} is larger than the ${max} Residual Lens accepts`);
    return value;
  };
  const dIn = int('d_in', MAX_D_IN);
  const dSae = int('d_sae', MAX_D_SAE);
  if (dIn * dSae * 8 > MAX_SAE_WEIGHT_BYTES) fail(`"d_sae" ${dSae} × "d_in" ${dIn} needs ${((dIn * dSae * 8) / 2 ** 30).toFixed(1)} GiB of float32 encoder and decoder weights, over the ${MAX_SAE_WEIGHT_BYTES / 2 ** 30} GiB limit`);

  // hook name (pre-6: hook_point)
  const hookRaw = field('hook_name') ?? (v6 ? undefined : field('hook_point'));
  if (typeof hookRaw !== 'string' || hookRaw === '') return fail(`"hook_name" is ${describe(hookRaw)}, expected a TransformerLens hook name such as "blocks.8.hook_resid_pre"`);
  const hook = SUPPORTED_HOOK.exec(hookRaw);
  if (!hook) {
    if (KNOWN_HOOK.test(hookRaw)) return fail(`"hook_name" ${quote(hookRaw)} is not supported yet (blocks.{l}.hook_resid_pre, hook_resid_post and hook_mlp_out are)`);
    return fail(`"hook_name" ${quote(hookRaw)} is not a hook point of a GPT-2 model`);
  }
  const headIndex = field('hook_head_index') ?? (v6 ? undefined : field('hook_point_head_index'));
  if (headIndex !== undefined && headIndex !== null) fail(`"hook_head_index" is ${describe(headIndex)}: per-head SAEs are not supported`);
  const reshape = field('reshape_activations');
  if (reshape !== undefined && reshape !== null && reshape !== 'none') fail(`"reshape_activations" ${describe(reshape)} is not supported (only "none")`);

  // architecture and activation
  const activationRaw = field('activation_fn') ?? (v6 ? undefined : field('activation_fn_str'));
  const kwargs = field('activation_fn_kwargs');
  let architecture = field('architecture') ?? 'standard';
  if (!v6 && activationRaw === 'topk' && isObject(kwargs) && kwargs['k'] !== undefined && kwargs['k'] !== null) architecture = 'topk';
  let activation: SaeActivation;
  if (architecture === 'standard' || architecture === 'jumprelu') {
    if (activationRaw !== undefined && activationRaw !== null && activationRaw !== 'relu') {
      return fail(`"activation_fn" ${describe(activationRaw)} is not supported for architecture "${architecture}" (only "relu")`);
    }
    activation = { kind: architecture === 'standard' ? 'relu' : 'jumprelu' };
  } else if (architecture === 'topk') {
    const kValue = field('k') ?? (isObject(kwargs) ? kwargs['k'] : undefined);
    if (typeof kValue !== 'number' || !Number.isSafeInteger(kValue) || kValue < 1 || kValue > dSae) {
      return fail(`"k" is ${describe(kValue)}, expected an integer from 1 to d_sae (${dSae}) for a topk SAE`);
    }
    if (field('rescale_acts_by_decoder_norm') === true) fail('"rescale_acts_by_decoder_norm" true is not supported (fold the decoder norm first)');
    activation = { kind: 'topk', k: kValue };
  } else {
    return fail(`"architecture" ${describe(architecture)} is not supported (standard, jumprelu and topk are)`);
  }

  const applyRaw = field('apply_b_dec_to_input');
  if (applyRaw !== undefined && typeof applyRaw !== 'boolean') fail(`"apply_b_dec_to_input" is ${describe(applyRaw)}, expected true or false`);
  if (field('finetuning_scaling_factor') === true) fail('"finetuning_scaling_factor" true is not supported');

  let normRaw = field('normalize_activations');
  if (typeof normRaw === 'boolean') normRaw = normRaw ? 'expected_average_only_in' : 'none';
  if (normRaw === undefined || normRaw === null) normRaw = 'none';
  if (typeof normRaw !== 'string' || !NORMALIZATIONS.includes(normRaw)) {
    return fail(`"normalize_activations" ${describe(normRaw)} is not supported (${NORMALIZATIONS.join(', ')} are)`);
  }
  const normalization: SaeNormalization = normRaw === 'constant_norm_rescale' || normRaw === 'layer_norm' ? normRaw : 'none';

  const dtype = field('dtype') ?? 'float32';
  if (typeof dtype !== 'string' || !DTYPES.includes(dtype)) fail(`"dtype" ${describe(dtype)} is not one of ${DTYPES.join(', ')}`);

  const modelName = field('model_name');
  if (modelName !== undefined && modelName !== null && typeof modelName !== 'string') fail(`"model_name" is ${describe(modelName)}, expected a string`);

  const kwargsFromPretrained = field('model_from_pretrained_kwargs');
  let centreInput = true;
  let centreInputSource: SaeConfig['centreInputSource'] = 'TransformerLens default';
  if (kwargsFromPretrained !== undefined && kwargsFromPretrained !== null) {
    if (!isObject(kwargsFromPretrained)) return fail(`"model_from_pretrained_kwargs" is ${describe(kwargsFromPretrained)}, expected an object`);
    const centre = kwargsFromPretrained['center_writing_weights'];
    if (centre !== undefined) {
      if (typeof centre !== 'boolean') fail(`"model_from_pretrained_kwargs.center_writing_weights" is ${describe(centre)}, expected true or false`);
      centreInput = centre === true;
      centreInputSource = 'model_from_pretrained_kwargs';
    }
  }
  const neuronpedia = field('neuronpedia_id');

  return {
    dIn,
    dSae,
    hookName: hookRaw,
    hookLayer: Number(hook[1]),
    hookKind: hook[2] === 'hook_resid_pre' ? 'resid_pre' : hook[2] === 'hook_resid_post' ? 'resid_post' : 'mlp_out',
    architecture: architecture as SaeConfig['architecture'],
    activation,
    applyBDecToInput: applyRaw !== false,
    normalization,
    normalizeActivationsField: normRaw,
    dtype: dtype as string,
    modelName: typeof modelName === 'string' ? modelName : undefined,
    centreInput,
    centreInputSource,
    neuronpediaId: typeof neuronpedia === 'string' ? neuronpedia : undefined,
  };
}

/** A JSON value for a message; "missing" when absent. */
function describe(value: unknown): string {
  return value === undefined ? 'missing' : describeJsonValue(value);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
