# cmake --install: the header, the shared library (and, with the CUDA
# backend, its module libvae_cuda.so beside it, where libvae looks for it),
# a package config so that find_package(vae) gives the target vae::vae (and
# the adapters' targets that adapters/CMakeLists.txt exports: components mpi
# and nccl), and vae.pc for pkg-config.
include(CMakePackageConfigHelpers)

install(TARGETS vae EXPORT vaeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(VAE_ENABLE_CUDA)
  install(TARGETS vae_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()
install(FILES ${PROJECT_SOURCE_DIR}/include/vae/vae.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vae)
install(EXPORT vaeTargets NAMESPACE vae:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vaeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/vaeConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vaeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vaeConfig.cmake ${PROJECT_BINARY_DIR}/vaeConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/vae)

# vae.pc names its folders relative to its own (${pcfiledir}), so the prefix
# given to cmake --install --prefix, which is not known here, holds.
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(VAE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(VAE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(VAE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _vae_pc_up /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
  string(REGEX REPLACE "/$" "" _vae_pc_up "${_vae_pc_up}")
  set(VAE_PC_PREFIX "\${pcfiledir}/${_vae_pc_up}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/vae.pc.in ${PROJECT_BINARY_DIR}/vae.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/vae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
