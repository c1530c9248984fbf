/*
 * A tiny multiboot guest for the qemu driver's tests and benchmarks.
 *
 * Why: a VM with nothing in RAM migrates about 1 MB (zero pages are skipped),
 * so it proves nothing. This guest fills a known amount of RAM with a
 * non-zero pattern (real data to move) and prints an increasing counter on
 * COM1 every PIT tick (5 ms), sleeping with `hlt` in between so that an idle
 * TCG guest does not eat a core. The counter lives in guest RAM: after a
 * live migration the destination's serial output continues where the
 * source's stopped.
 *
 * Kernel command line (-append), parsed as KEY=NUMBER words keyed by the
 * last letter of KEY:
 *   fill=N    fill N MiB from 2 MiB up (capped to the RAM there is)
 *   dirty=1   keep rewriting every filled page (a guest whose pre-copy
 *             cannot converge at a low bandwidth)
 *   pages=N   with dirty=1, rewrite only N pages per tick instead, in
 *             turn over the filled ones: a dirty rate that slows down with
 *             the vCPU, so that QEMU's CPU throttling (auto-converge) can
 *             make such a migration converge
 *
 * Output: one line per tick, the counter as 8 hex digits.
 * Build: as --32, ld -m elf_i386 -N -Ttext=0x100000 (see ../guest.py).
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .set COM1, 0x3f8
        .set FILL_BASE, 0x200000
        .set PIT_DIVISOR, 5966          /* 1193182 Hz / 200 Hz */
        .set IDT_ENTRIES, 48

        .text
        .code32
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .globl _start
_start:
        cli
        mov $stack_top, %esp
        mov %ebx, %esi                  /* multiboot information */
        lgdt gdt_desc
        ljmp $0x08, $1f
1:      mov $0x10, %ax
        mov %ax, %ds
        mov %ax, %es
        mov %ax, %ss
        mov %ax, %fs
        mov %ax, %gs

        /* -- command line ------------------------------------------------ */
        xor %ebp, %ebp                  /* fill MiB */
        xor %edi, %edi                  /* dirty flag */
        testl $4, (%esi)
        jz parsed
        mov 16(%esi), %ecx
        xor %edx, %edx                  /* last letter before '=' */
scan:   movzbl (%ecx), %eax
        test %eax, %eax
        jz parsed
        inc %ecx
        cmp $'=', %al
        je number
        mov %al, %dl
        jmp scan
number: xor %ebx, %ebx
2:      movzbl (%ecx), %eax
        sub $'0', %eax
        cmp $9, %eax
        ja 3f
        imul $10, %ebx
        add %eax, %ebx
        inc %ecx
        jmp 2b
3:      cmp $'l', %dl
        jne 4f
        mov %ebx, %ebp
4:      cmp $'s', %dl
        jne 12f
        mov %ebx, pages
12:     cmp $'y', %dl
        jne scan
        mov %ebx, %edi
        jmp scan
parsed:
        /* cap the fill to the RAM above 2 MiB (mem_upper is KiB above 1 MiB) */
        testl $1, (%esi)
        jz 5f
        mov 8(%esi), %eax
        shr $10, %eax
        sub $2, %eax
        jns 6f
        xor %eax, %eax
6:      cmp %eax, %ebp
        jbe 5f
        mov %eax, %ebp
5:      shl $20, %ebp
        mov %ebp, fill_bytes
        mov %edi, dirty

        /* -- fill RAM with a non-zero, address-dependent pattern ----------- */
        mov $FILL_BASE, %ebx
        lea FILL_BASE(%ebp), %ecx
fill:   cmp %ecx, %ebx
        jae filled
        mov %ebx, %eax
        xor $0x5a5aa5a5, %eax
        mov %eax, (%ebx)
        add $4, %ebx
        jmp fill
filled:
        /* -- IDT: every vector irets, vector 0x20 counts timer ticks ------- */
        xor %ecx, %ecx
idt_fill:
        mov $ignore_isr, %eax
        cmp $0x20, %ecx
        jne 7f
        mov $timer_isr, %eax
7:      lea idt(,%ecx,8), %ebx
        mov %ax, (%ebx)
        movw $0x08, 2(%ebx)
        movw $0x8e00, 4(%ebx)
        shr $16, %eax
        mov %ax, 6(%ebx)
        inc %ecx
        cmp $IDT_ENTRIES, %ecx
        jb idt_fill
        lidt idt_desc

        /* -- PIC: IRQs at 0x20.., only IRQ0 unmasked; PIT at 200 Hz -------- */
        mov $0x11, %al
        out %al, $0x20
        out %al, $0xa0
        mov $0x20, %al
        out %al, $0x21
        mov $0x28, %al
        out %al, $0xa1
        mov $0x04, %al
        out %al, $0x21
        mov $0x02, %al
        out %al, $0xa1
        mov $0x01, %al
        out %al, $0x21
        out %al, $0xa1
        mov $0xfe, %al
        out %al, $0x21
        mov $0xff, %al
        out %al, $0xa1
        mov $0x34, %al
        out %al, $0x43
        mov $(PIT_DIVISOR & 0xff), %al
        out %al, $0x40
        mov $(PIT_DIVISOR >> 8), %al
        out %al, $0x40
        sti

        /* -- main loop: sleep (or dirty RAM) until the next tick, print ---- */
main:   cmpl $0, dirty
        je idle
        cmpl $0, pages
        jne idle                        /* paced: dirties on each tick */
        call dirty_pass
        jmp check
idle:   hlt
check:  mov ticks, %eax
        cmp last_tick, %eax
        je main
        mov %eax, last_tick
        incl counter
        call print_counter
        cmpl $0, dirty
        je main
        call dirty_paced
        jmp main

/* Increment one dword in each of the next `pages` filled pages. */
dirty_paced:
        mov pages, %edx
        test %edx, %edx
        jz 15f
        mov fill_bytes, %ecx
        test %ecx, %ecx
        jz 15f
        add $FILL_BASE, %ecx
        mov cursor, %ebx
13:     cmp $FILL_BASE, %ebx
        jb 14f
        cmp %ecx, %ebx
        jb 16f
14:     mov $FILL_BASE, %ebx
16:     incl (%ebx)
        add $4096, %ebx
        dec %edx
        jnz 13b
        mov %ebx, cursor
15:     ret

/* Increment one dword in every filled page: every page is dirty again. */
dirty_pass:
        mov $FILL_BASE, %ebx
        mov fill_bytes, %ecx
        add %ebx, %ecx
8:      cmp %ecx, %ebx
        jae 9f
        incl (%ebx)
        add $4096, %ebx
        jmp 8b
9:      ret

/* Print `counter` as 8 hex digits and a newline on COM1. */
print_counter:
        mov counter, %edx
        mov $8, %ecx
10:     rol $4, %edx
        mov %edx, %eax
        and $0xf, %eax
        movzbl hexdigits(%eax), %eax
        call putc
        loop 10b
        mov $'\n', %al
        call putc
        ret

/* Write %al to COM1 once the transmitter holding register is empty. */
putc:   push %edx
        push %eax
        mov $(COM1 + 5), %dx
11:     in %dx, %al
        test $0x20, %al
        jz 11b
        pop %eax
        mov $COM1, %dx
        out %al, %dx
        pop %edx
        ret

timer_isr:
        push %eax
        incl ticks
        mov $0x20, %al
        out %al, $0x20
        pop %eax
        iret

ignore_isr:
        iret

        .data
        .align 8
gdt:    .quad 0
        .quad 0x00cf9a000000ffff        /* 0x08: flat 32-bit code */
        .quad 0x00cf92000000ffff        /* 0x10: flat 32-bit data */
gdt_desc:
        .word gdt_desc - gdt - 1
        .long gdt
idt_desc:
        .word IDT_ENTRIES * 8 - 1
        .long idt
hexdigits:
        .ascii "0123456789abcdef"

        .bss
        .align 8
idt:    .skip IDT_ENTRIES * 8
ticks:  .long 0
last_tick:
        .long 0
counter:
        .long 0
fill_bytes:
        .long 0
dirty:  .long 0
pages:  .long 0
cursor: .long 0
stack:  .skip 4096
stack_top:
