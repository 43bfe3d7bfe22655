/* 2-D pooling on NCHW tensors: one work-item per output element.
 *
 * MaxPool: padding and NaN never win; a window without a winner gives the lowest float.
 * AvgPool: the divisor is the whole kernel when ``full_divisor`` (exclude-pad false with
 * padding), else the window's taps inside the input (0 when none).
 */

__kernel void maxpool(__global const DATA_T* x, __global DATA_T* y, int H, int W, int OH, int OW,
                      int KH, int KW, int SH, int SW, int DH, int DW, int PH, int PW) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    __global const DATA_T* p = x + plane * H * W;
    float m = -FLT_MAX;
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = oh * SH - PH + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ow * SW - PW + kw * DW;
            if (iw < 0 || iw >= W) continue;
            const float v = LOAD(p, ih * W + iw);
            if (v > m) m = v;
        }
    }
    STORE(y, (plane * OH + oh) * OW + ow, m);
}

__kernel void avgpool(__global const DATA_T* x, __global DATA_T* y, int H, int W, int OH, int OW,
                      int KH, int KW, int SH, int SW, int DH, int DW, int PH, int PW, int full_divisor) {
    const int ow = get_global_id(0), oh = get_global_id(1), plane = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    __global const DATA_T* p = x + plane * H * W;
    float s = 0.0f;
    int taps = 0;
    for (int kh = 0; kh < KH; ++kh) {
        const int ih = oh * SH - PH + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < KW; ++kw) {
            const int iw = ow * SW - PW + kw * DW;
            if (iw < 0 || iw >= W) continue;
            s += LOAD(p, ih * W + iw);
            ++taps;
        }
    }
    const int divisor = full_divisor ? KH * KW : taps;
    STORE(y, (plane * OH + oh) * OW + ow, divisor > 0 ? s / divisor : 0.0f);
}
