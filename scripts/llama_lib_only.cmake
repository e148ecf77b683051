# Included at llama-cpp-python's project() call (CMAKE_PROJECT_INCLUDE, set by scripts/setup.sh). The Python
# binding loads only libllama and libggml; llama-cpp-python forces llama.cpp's "common" helper library on in its
# cache, but a normal variable shadows a cache entry (CMP0126), so this skips building it: the compile takes 82 s
# instead of 177 s on 2 cores (docs/decisions.md, "Setup").
set(LLAMA_BUILD_COMMON OFF)
