/* op_list.h — every op of the registry, once. An X-macro list: define MLG_OP(sym) before
 * including this file. Each entry names the definition `mlg_op_<sym>` (an mlg_op_def) that
 * lives in the op's own file under compiler/ops/; the op's user-visible name is def->name.
 * Order here is the registry order (mlg_op_at) and the order of docs/ops.md.
 * No include guard on purpose. */

/* elementwise, binary with NumPy broadcasting (binary.c) */
MLG_OP(add)
MLG_OP(sub)
MLG_OP(mul)
MLG_OP(div)
MLG_OP(pow)
MLG_OP(maximum)
MLG_OP(minimum)
MLG_OP(fmod)
MLG_OP(heaviside)
/* elementwise, unary (unary.c, clamp.c, leaky_relu.c) */
MLG_OP(neg)
MLG_OP(abs)
MLG_OP(exp)
MLG_OP(log)
MLG_OP(sqrt)
MLG_OP(rsqrt)
MLG_OP(relu)
MLG_OP(sigmoid)
MLG_OP(tanh)
MLG_OP(gelu)
MLG_OP(silu)
MLG_OP(erf)
MLG_OP(clamp)
MLG_OP(leaky_relu)
/* elementwise, comparisons giving bool (compare.c), logic of bools (logical.c), select
 * (where.c) and type conversion (cast.c) */
MLG_OP(equal)
MLG_OP(not_equal)
MLG_OP(less)
MLG_OP(less_equal)
MLG_OP(greater)
MLG_OP(greater_equal)
MLG_OP(logical_and)
MLG_OP(logical_or)
MLG_OP(logical_xor)
MLG_OP(logical_not)
MLG_OP(where)
MLG_OP(cast)
MLG_OP(sin)
MLG_OP(cos)
MLG_OP(tan)
MLG_OP(floor)
MLG_OP(ceil)
MLG_OP(round)
MLG_OP(sign)
MLG_OP(reciprocal)
/* linear algebra (matmul.c, linear.c: linear and linear_softmax) */
MLG_OP(matmul)
MLG_OP(linear)
MLG_OP(linear_softmax)
/* attention, one fused kernel (attention.c) */
MLG_OP(scaled_dot_product_attention)
/* convolution, pooling and resizing, NCHW (conv2d.c: also conv1d, conv_transpose2d; pool.c,
 * resize.c) */
MLG_OP(conv2d)
MLG_OP(conv1d)
MLG_OP(conv_transpose2d)
MLG_OP(max_pool2d)
MLG_OP(avg_pool2d)
MLG_OP(global_avg_pool2d)
MLG_OP(max_pool2d_grad)
MLG_OP(avg_pool2d_grad)
MLG_OP(resize)
/* normalization and scans (batch_norm.c, layer_norm.c: also rms_norm, group_norm; softmax.c,
 * cumsum.c) */
MLG_OP(batch_norm)
MLG_OP(layer_norm)
MLG_OP(rms_norm)
MLG_OP(group_norm)
MLG_OP(softmax)
MLG_OP(log_softmax)
MLG_OP(cumsum)
/* reductions (reduce.c) */
MLG_OP(sum)
MLG_OP(mean)
MLG_OP(max)
MLG_OP(min)
/* index of the extreme along an axis (argmax.c) */
MLG_OP(argmax)
MLG_OP(argmin)
MLG_OP(prod)
/* quantization (quantize.c, qlinear.c) */
MLG_OP(quantize_linear)
MLG_OP(dequantize_linear)
MLG_OP(qlinear_conv2d)
MLG_OP(qlinear_matmul)
/* shape (reshape.c, transpose.c, flatten.c, concat.c, slice.c, squeeze.c, unsqueeze.c,
 * gather.c, expand.c, one_hot.c, pad.c) */
MLG_OP(reshape)
MLG_OP(transpose)
MLG_OP(flatten)
MLG_OP(concat)
MLG_OP(slice)
MLG_OP(slice_grad)
MLG_OP(squeeze)
MLG_OP(unsqueeze)
MLG_OP(gather)
MLG_OP(gather_grad)
MLG_OP(expand)
MLG_OP(pad)
MLG_OP(one_hot)
/* losses, composite (loss.c) */
MLG_OP(cross_entropy)
MLG_OP(mse_loss)
MLG_OP(bce_with_logits)
