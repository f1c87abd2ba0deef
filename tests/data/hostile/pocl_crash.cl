__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void k_linear_relu(__global const float *restrict a, const uint a_off,
    __global const float *restrict b, const uint b_off,
    __global const float *restrict bias, const uint bias_off,
    __global float *restrict c, const uint c_off) {
  __local float a_tile[16];
  __local float2 b_tile[1024];
  int a_base = 0;
  int b_base = 0;
  int c_base = 0;
  int tx = (int)get_local_id(0);
  int ty = (int)get_local_id(1);
  int lid = ty * 64 + tx;
  int m0 = (int)get_group_id(1);
  int n0 = (int)get_group_id(0) * 128;
  float acc0_0 = 0.0f;
  float acc0_1 = 0.0f;
  int a_g0 = lid / 4;
  int a_k0 = lid % 4 * 4;
  float4 a_v0_0 = (float4)(0.0f);
  int b_g0 = lid / 4;
  int b_k0 = lid % 4 * 4;
  float4 b_v0_0 = (float4)(0.0f);
  float4 b_v0_1 = (float4)(0.0f);
  int b_g1 = (lid + 64) / 4;
  int b_k1 = (lid + 64) % 4 * 4;
  float4 b_v1_0 = (float4)(0.0f);
  float4 b_v1_1 = (float4)(0.0f);
  int b_g2 = (lid + 128) / 4;
  int b_k2 = (lid + 128) % 4 * 4;
  float4 b_v2_0 = (float4)(0.0f);
  float4 b_v2_1 = (float4)(0.0f);
  int b_g3 = (lid + 192) / 4;
  int b_k3 = (lid + 192) % 4 * 4;
  float4 b_v3_0 = (float4)(0.0f);
  float4 b_v3_1 = (float4)(0.0f);
  if (lid < 4) {
    a_v0_0 = vload4(0, a + a_off + (a_base + a_k0));
  }
  b_v0_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g0 * 2) * 784 + b_k0)));
  b_v0_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g0 * 2 + 1)) * 784 + b_k0)));
  b_v1_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g1 * 2) * 784 + b_k1)));
  b_v1_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g1 * 2 + 1)) * 784 + b_k1)));
  b_v2_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g2 * 2) * 784 + b_k2)));
  b_v2_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g2 * 2 + 1)) * 784 + b_k2)));
  b_v3_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g3 * 2) * 784 + b_k3)));
  b_v3_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g3 * 2 + 1)) * 784 + b_k3)));
  for (int k0 = 0; k0 < 784; k0 += 16) {
    if (lid < 4) {
      a_tile[a_k0 + a_g0] = a_v0_0.s0;
      a_tile[a_k0 + 1 + a_g0] = a_v0_0.s1;
      a_tile[a_k0 + 2 + a_g0] = a_v0_0.s2;
      a_tile[a_k0 + 3 + a_g0] = a_v0_0.s3;
    }
    b_tile[b_k0 * 64 + b_g0] = (float2)(b_v0_0.s0, b_v0_1.s0);
    b_tile[(b_k0 + 1) * 64 + b_g0] = (float2)(b_v0_0.s1, b_v0_1.s1);
    b_tile[(b_k0 + 2) * 64 + b_g0] = (float2)(b_v0_0.s2, b_v0_1.s2);
    b_tile[(b_k0 + 3) * 64 + b_g0] = (float2)(b_v0_0.s3, b_v0_1.s3);
    b_tile[b_k1 * 64 + b_g1] = (float2)(b_v1_0.s0, b_v1_1.s0);
    b_tile[(b_k1 + 1) * 64 + b_g1] = (float2)(b_v1_0.s1, b_v1_1.s1);
    b_tile[(b_k1 + 2) * 64 + b_g1] = (float2)(b_v1_0.s2, b_v1_1.s2);
    b_tile[(b_k1 + 3) * 64 + b_g1] = (float2)(b_v1_0.s3, b_v1_1.s3);
    b_tile[b_k2 * 64 + b_g2] = (float2)(b_v2_0.s0, b_v2_1.s0);
    b_tile[(b_k2 + 1) * 64 + b_g2] = (float2)(b_v2_0.s1, b_v2_1.s1);
    b_tile[(b_k2 + 2) * 64 + b_g2] = (float2)(b_v2_0.s2, b_v2_1.s2);
    b_tile[(b_k2 + 3) * 64 + b_g2] = (float2)(b_v2_0.s3, b_v2_1.s3);
    b_tile[b_k3 * 64 + b_g3] = (float2)(b_v3_0.s0, b_v3_1.s0);
    b_tile[(b_k3 + 1) * 64 + b_g3] = (float2)(b_v3_0.s1, b_v3_1.s1);
    b_tile[(b_k3 + 2) * 64 + b_g3] = (float2)(b_v3_0.s2, b_v3_1.s2);
    b_tile[(b_k3 + 3) * 64 + b_g3] = (float2)(bv3_0.s3, b_v3_1.s3);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (k0 + 16 < 784) {
      if (lid < 4) {
        a_v0_0 = vload4(0, a + a_off + (a_base + (k0 + 16 + a_k0)));
      }
      b_v0_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g0 * 2) * 784 + (k0 + 16 + b_k0))));
      b_v0_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g0 * 2 + 1)) * 784 + (k0 + 16 + b_k0))));
      b_v1_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g1 * 2) * 784 + (k0 + 16 + b_k1))));
      b_v1_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g1 * 2 + 1)) * 784 + (k0 + 16 + b_k1))));
      b_v2_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g2 * 2) * 784 + (k0 + 16 + b_k2))));
      b_v2_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g2 * 2 + 1)) * 784 + (k0 + 16 + b_k2))));
      b_v3_0 = vload4(0, b + b_off + (b_base + ((n0 + b_g3 * 2) * 784 + (k0 + 16 + b_k3))));
      b_v3_1 = vload4(0, b + b_off + (b_base + ((n0 + (b_g3 * 2 + 1)) * 784 + (k0 + 16 + b_k3))));
    }
    for (int kk = 0; kk < 16; kk++) {
      float av0 = a_tile[kk + ty];
      float2 bv0 = b_tile[kk * 64 + tx];
      acc0_0 = acc0_0 + av0 * bv0.s0;
      acc0_1 = acc0_1 + av0 * bv0.s1;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  int row0 = m0 + ty;
  float acc_out = acc0_0 + bias[bias_off + (n0 + tx * 2)];
  float v_relu = acc_out < 0.0f ? 0.0f : acc_out;
  float acc_out1 = acc0_1 + bias[bias_off + (n0 + tx * 2 + 1)];
  float v_relu1 = acc_out1 < 0.0f ? 0.0f : acc_out1;
  vstore2((float2)(v_relu, v_relu1), 0, c + c_off + (c_base + (n0 + tx * 2)));
}

