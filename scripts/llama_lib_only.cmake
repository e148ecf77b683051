# Included at llama-cpp-python's project() calls (CMAKE_PROJECT_INCLUDE, set by scripts/setup.sh).
#
# The Python binding loads only libllama and libggml; llama-cpp-python forces llama.cpp's "common" helper library
# on in its cache, but a normal variable shadows a cache entry (CMP0126), so this skips building it: the compile
# takes 82 s instead of 177 s on 2 cores (docs/decisions.md, "Setup").
set(LLAMA_BUILD_COMMON OFF)

# No AMX kernels: on an Intel Xeon with AMX (Sapphire Rapids and later) the native build repacks the model's
# Q4_K/Q6_K weights for AMX and the first decode crashes in ggml_backend_amx_mul_mat (segmentation fault; seen
# here on 2026-12-03, and upstream as ggml-org/llama.cpp#20824). The -mno-amx-* options win over -march=native
# whatever their order (GCC and Clang keep options given explicitly), so ggml compiles without its AMX path and
# uses AVX-512 VNNI instead. docs/decisions.md, "Setup".
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag(-mno-amx-int8 RAG_COMPILER_KNOWS_AMX)
if(RAG_COMPILER_KNOWS_AMX)
  add_compile_options(-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
endif()
